/**
 * POST /api/distributionRecords/unpublish {audit_log_id, reason?}: deletes the media document and
 * its file (the storage adapter's delete), and keeps the record as a tombstone: public_url and
 * expires_at null, unpublished_at, unpublish_reason. Idempotent: an unpublished record is answered
 * as it is. 404 unknown record.
 */
import { commitTransaction, initTransaction, killTransaction, type CollectionSlug, type Endpoint } from 'payload'

import { findMedia } from '../links'
import { badRequest, requestedRecord } from './shared'

export const recordUnpublish = (recordsSlug: string, mediaSlug: string): Endpoint => ({
  path: '/unpublish',
  method: 'post',
  handler: async (req) => {
    const { record, data } = await requestedRecord(req, recordsSlug)
    if (record.unpublished_at) return Response.json({ doc: record })
    const reason = data.reason ?? null
    if (reason !== null && typeof reason !== 'string') throw badRequest('reason must be a string.')
    const ownsTransaction = await initTransaction(req)
    try {
      const media = await findMedia(req, mediaSlug, record.audit_log_id)
      if (media) {
        await req.payload.delete({ collection: mediaSlug as CollectionSlug, id: media.id, overrideAccess: false, req })
      }
      const doc = await req.payload.update({
        collection: recordsSlug as CollectionSlug,
        id: record.id,
        data: { unpublished_at: new Date().toISOString(), unpublish_reason: reason },
        overrideAccess: false,
        req,
      })
      if (ownsTransaction) await commitTransaction(req)
      return Response.json({ doc })
    } catch (error) {
      if (ownsTransaction) await killTransaction(req)
      throw error
    }
  },
})
