import type { Access } from 'payload'

/** Permanent public links (the publicLinks option): media files download without credentials. */
export const anyone: Access = () => true

/** Writes and reads of the catalog need a signed-in user, e.g. the service user's API key (Payload's own default rule). */
export const signedIn: Access = ({ req }) => Boolean(req.user)
