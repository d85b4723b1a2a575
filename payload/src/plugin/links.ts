/**
 * Download links: how a record's public_url is made, and how the download route checks one.
 *
 * - Local disk (default): <origin>/api/<media>/download/<storage_path>?expires=<unix seconds>&signature=<hex>,
 *   signature = HMAC-SHA256 over "<storage_path>\n<expires>\n<file>" with a key derived from Payload's
 *   secret, where <file> is the media document's id and createdAt: a link dies with its document
 *   (unpublish) and never serves a document published again later at the same path.
 * - S3/R2 (the `presign` option): a presigned GET of the object, the bucket stays private.
 * - `publicLinks`: the media document's own URL, permanent (expires_at null).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

import type { CollectionSlug, PayloadRequest } from 'payload'

import { Refusal } from './refusal'
import type { LinkOptions } from './types'

export const DEFAULT_EXPIRY_HOURS = 72
/** SigV4 presigned URLs live at most 7 days; the same cap on both backends keeps one rule. */
export const MAX_EXPIRY_HOURS = 168

export type MediaDoc = { id: number | string; createdAt: string; storage_path: string; url?: string | null }

/** url_expiry_hours in whole seconds: one minute to 168 h, else 400. */
export const expirySeconds = (hours: unknown): number => {
  const seconds = typeof hours === 'number' ? Math.round(hours * 3600) : NaN
  if (!(seconds >= 60 && seconds <= MAX_EXPIRY_HOURS * 3600)) {
    throw new Refusal(
      `url_expiry_hours must be a number from 1/60 (one minute) to ${MAX_EXPIRY_HOURS} (7 days), not ${JSON.stringify(hours)}.`,
      400,
    )
  }
  return seconds
}

const signingKey = (secret: string) => createHmac('sha256', secret).update('distribution download links').digest()

export const signature = (secret: string, storagePath: string, expires: number, media: MediaDoc) =>
  createHmac('sha256', signingKey(secret))
    .update(`${storagePath}\n${expires}\n${media.id}@${media.createdAt}`)
    .digest('hex')

/** 'valid', 'expired' (a genuine link past its time) or 'forged' (signature or expiry altered, or missing). */
export const checkLink = (
  secret: string,
  media: MediaDoc,
  expires: string | null,
  given: string | null,
  now = Date.now(),
): 'valid' | 'expired' | 'forged' => {
  if (!expires || !/^\d{1,12}$/.test(expires) || !given || !/^[0-9a-f]{64}$/.test(given)) return 'forged'
  const wanted = Buffer.from(signature(secret, media.storage_path, Number(expires), media), 'hex')
  if (!timingSafeEqual(wanted, Buffer.from(given, 'hex'))) return 'forged'
  return Number(expires) * 1000 > now ? 'valid' : 'expired'
}

/** Where links point: serverURL when configured, else the origin the request came in on. */
const origin = (req: PayloadRequest) => req.payload.config.serverURL || (req.url ? new URL(req.url).origin : '')

/** The signed local link of `media`, valid until `expires` (unix seconds). */
export const signedURL = (req: PayloadRequest, mediaSlug: string, media: MediaDoc, expires: number) => {
  const route = `${origin(req)}${req.payload.config.routes.api}/${mediaSlug}/download/`
  const pathPart = media.storage_path.split('/').map(encodeURIComponent).join('/')
  const query = new URLSearchParams({ expires: String(expires), signature: signature(req.payload.secret, media.storage_path, expires, media) })
  return `${route}${pathPart}?${query}`
}

/** The media document of an audit_log_id, without access checks: the download route serves anonymous viewers. */
export const findMedia = async (req: PayloadRequest, mediaSlug: string, auditLogId: unknown) => {
  if (typeof auditLogId !== 'string' || !auditLogId) return undefined
  const { docs } = await req.payload.find({
    collection: mediaSlug as CollectionSlug,
    where: { audit_log_id: { equals: auditLogId } },
    limit: 1,
    depth: 0,
    pagination: false,
    req,
  })
  return docs[0] as unknown as MediaDoc | undefined
}

/** public_url and expires_at for the media document `media`, valid `hours` from now. */
export const makeLink = async (
  req: PayloadRequest,
  mediaSlug: string,
  options: LinkOptions,
  media: MediaDoc,
  hours: unknown,
): Promise<{ public_url: string; expires_at: string | null }> => {
  const seconds = expirySeconds(hours)
  if (options.publicLinks) {
    const url = media.url || ''
    return { public_url: url.startsWith('/') ? `${origin(req)}${url}` : url, expires_at: null }
  }
  const now = Math.floor(Date.now() / 1000)
  const expires_at = new Date((now + seconds) * 1000).toISOString()
  if (options.presign) {
    const url = await options.presign({ key: media.storage_path, expiresIn: seconds, signedAt: new Date(now * 1000) })
    return { public_url: url, expires_at }
  }
  return { public_url: signedURL(req, mediaSlug, media, now + seconds), expires_at }
}
