import type { Access } from 'payload'

/** Permanent public links (the publicLinks option): media files download without credentials. */
export const anyone: Access = () => true

/** Writes and reads of the catalog need a signed-in user, e.g. the service user's API key (Payload's own default rule). */
export const signedIn: Access = ({ req }) => Boolean(req.user)

/**
 * Writes of what only the pipeline writes: a user signed in with an API key (the service). A person
 * signed in to the admin reads only, so the admin offers no Create New, Bulk Upload or Delete there.
 */
export const apiKeyUser: Access = ({ req }) => req.user?._strategy === 'api-key'

/** What the admin says about a collection only the pipeline writes. */
export const PIPELINE_ONLY =
  'Written by the distribution service only. To change one, re-publish, renew its link or unpublish it ' +
  'from the distribution admin (Django) or its API.'
