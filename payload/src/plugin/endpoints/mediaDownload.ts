/**
 * GET /api/<mediaSlug>/download/<storage_path>?expires=&signature=: the file of a signed link
 * (links.ts), no user needed. 200/206 until `expires`, 410 after it or once the file was
 * unpublished, 403 for a missing or altered signature or expiry. Served through the collection's
 * storage handlers, so byte ranges work as on Payload's own file route.
 */
import path from 'node:path'

import { APIError, type CollectionSlug, type Endpoint } from 'payload'

import { checkLink, findMedia } from '../links'
import { Refusal } from '../refusal'

export const mediaDownload = (mediaSlug: string): Endpoint => ({
  path: '/download/:path+',
  method: 'get',
  handler: async (req) => {
    const segments = req.routeParams?.path
    const storagePath = Array.isArray(segments) ? segments.join('/') : String(segments ?? '')
    const media = await findMedia(req, mediaSlug, path.posix.basename(storagePath, '.mp4'))
    if (!media || media.storage_path !== storagePath) throw new Refusal('This link is no longer valid.', 410)
    const verdict = checkLink(req.payload.secret, media, req.searchParams.get('expires'), req.searchParams.get('signature'))
    if (verdict === 'forged') throw new Refusal('This link is not valid (bad signature).', 403)
    if (verdict === 'expired') throw new Refusal('This link has expired.', 410)
    const upload = req.payload.collections[mediaSlug as CollectionSlug]?.config.upload
    for (const handler of upload?.handlers ?? []) {
      const response = await handler(req, {
        doc: media as never,
        params: { collection: mediaSlug, filename: path.posix.basename(storagePath) },
      })
      if (response) return response
    }
    throw new APIError('No storage adapter serves this collection.', 501)
  },
})
