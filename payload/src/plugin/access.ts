import type { Access } from 'payload'

/** Public downloads and record lookups: the public URL must work without credentials. */
export const anyone: Access = () => true

/** Writes need a signed-in user, e.g. the service user's API key (Payload's own default rule). */
export const signedIn: Access = ({ req }) => Boolean(req.user)
