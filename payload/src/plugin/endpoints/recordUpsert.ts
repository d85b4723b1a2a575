/**
 * PUT /api/distributionRecords/upsert: the JSON record, found by its audit_log_id. A publish: it
 * clears an unpublished record's tombstone; the record's hook sets public_url and expires_at.
 */
import type { CollectionSlug, Endpoint } from 'payload'

import { answer, badRequest, readJSON, requireUser, upsertByAuditLogId } from './shared'

export const recordUpsert = (recordsSlug: string): Endpoint => ({
  path: '/upsert',
  method: 'put',
  handler: async (req) => {
    requireUser(req)
    const data: Record<string, unknown> = { ...(await readJSON(req)), unpublished_at: null, unpublish_reason: null }
    const auditLogId = data.audit_log_id
    if (typeof auditLogId !== 'string' || !auditLogId.trim()) throw badRequest('audit_log_id is required.')
    const collection = recordsSlug as CollectionSlug
    const result = await upsertByAuditLogId({
      req,
      collection,
      auditLogId,
      write: (id) =>
        id === undefined
          ? req.payload.create({ collection, data, overrideAccess: false, req })
          : req.payload.update({ collection, id, data, overrideAccess: false, req }),
    })
    return answer(result)
  },
})
