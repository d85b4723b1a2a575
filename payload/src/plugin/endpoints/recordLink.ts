/**
 * POST /api/distributionRecords/link {audit_log_id, url_expiry_hours?}: a fresh public_url and
 * expires_at for a published record (the record's hook makes them); no byte moves and the media
 * document is untouched. url_expiry_hours, when given, is stored as the record's setting.
 * 404 unknown record, 409 unpublished.
 */
import type { CollectionSlug, Endpoint } from 'payload'

import { Refusal } from '../refusal'
import { requestedRecord } from './shared'

export const recordLink = (recordsSlug: string): Endpoint => ({
  path: '/link',
  method: 'post',
  handler: async (req) => {
    const { record, data } = await requestedRecord(req, recordsSlug)
    if (record.unpublished_at) {
      throw new Refusal(`The record ${record.audit_log_id} is unpublished: publish it again first.`, 409)
    }
    const hours = data.url_expiry_hours ?? undefined
    const doc = await req.payload.update({
      collection: recordsSlug as CollectionSlug,
      id: record.id,
      data: hours === undefined ? {} : { url_expiry_hours: hours },
      overrideAccess: false,
      req,
    })
    return Response.json({ doc })
  },
})
