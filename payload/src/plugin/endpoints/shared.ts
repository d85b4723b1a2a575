/**
 * What the plugin's one-round-trip endpoints share:
 *
 *   PUT /api/<mediaSlug>/upsert?audit_log_id&project_id&checksum&storage_path  raw MP4 body (mediaUpsert.ts)
 *   PUT /api/<mediaSlug>/register   JSON {audit_log_id, project_id, checksum, storage_path, filesize, mimeType} (mediaRegister.ts)
 *   PUT /api/distributionRecords/upsert   JSON record (recordUpsert.ts)
 *   POST /api/distributionRecords/link, /unpublish   JSON {audit_log_id, ...} (recordLink.ts, recordUnpublish.ts)
 *
 * Each finds the document by audit_log_id and updates it, or creates it, through Payload's own
 * local API with the request's user (`overrideAccess: false`), so access rules, field
 * validation, the collection's hooks (ours and the host's) and the storage adapter all run.
 * Answer: `201 {doc, created: true}` or `200 {doc, created: false}`; errors are Payload's
 * `{errors: [{message}]}` (thrown APIErrors, formatted by handleEndpoints).
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'

import {
  APIError,
  commitTransaction,
  initTransaction,
  killTransaction,
  ValidationError,
  type CollectionSlug,
  type File as PayloadFile,
  type PayloadRequest,
} from 'payload'

import { Refusal } from '../refusal'
import { isStoragePath, STORAGE_PATH_RULE } from '../storagePath'

const CHECKSUM = /^sha256:[0-9a-f]{64}$/

type Answer = { doc: Record<string, unknown>; created: boolean }

export const answer = ({ doc, created }: Answer) => Response.json({ doc, created }, { status: created ? 201 : 200 })

export const badRequest = (message: string) => new Refusal(message, 400)

export const requireUser = (req: PayloadRequest) => {
  if (!req.user) throw new Refusal(req.t('error:unauthorized'), 401)
}

/** The record a JSON body's audit_log_id names (404 when there is none), and the body. */
export const requestedRecord = async (req: PayloadRequest, recordsSlug: string) => {
  requireUser(req)
  const data = await readJSON(req)
  const auditLogId = data.audit_log_id
  if (typeof auditLogId !== 'string' || !auditLogId.trim()) throw badRequest('audit_log_id is required.')
  const { docs } = await req.payload.find({
    collection: recordsSlug as CollectionSlug,
    where: { audit_log_id: { equals: auditLogId } },
    limit: 1,
    depth: 0,
    pagination: false,
    overrideAccess: false,
    req,
  })
  if (!docs.length) throw new Refusal(`No distribution record with audit_log_id ${auditLogId}.`, 404)
  return { record: docs[0] as Record<string, unknown> & { id: number | string }, data }
}

/** The distribution fields, validated: a storage_path Django would write, ending in /<audit_log_id>.mp4. */
export const distributionParams = (source: Record<string, unknown>) => {
  const text = (name: string) => {
    const value = source[name]
    if (typeof value !== 'string' || !value.trim()) throw badRequest(`${name} is required.`)
    return value
  }
  const auditLogId = text('audit_log_id')
  const projectId = text('project_id')
  const checksum = text('checksum')
  const storagePath = text('storage_path')
  if (!CHECKSUM.test(checksum)) throw badRequest('checksum must be sha256:<64 lowercase hex digits>.')
  if (auditLogId.includes('/') || auditLogId.startsWith('.')) throw badRequest('audit_log_id is not a valid name.')
  if (!isStoragePath(storagePath, auditLogId)) throw badRequest(`${STORAGE_PATH_RULE} (audit_log_id ${auditLogId}).`)
  return {
    fields: { project_id: projectId, audit_log_id: auditLogId, checksum, storage_path: storagePath },
    filename: path.posix.basename(storagePath),
    prefix: path.posix.dirname(storagePath),
  }
}

/** Extra fields a host collection may require (e.g. `alt`), as Payload's own `_payload` JSON. */
export const extraFields = (value: unknown): Record<string, unknown> => {
  if (value === undefined || value === null || value === '') return {}
  let parsed: unknown
  try {
    parsed = typeof value === 'string' ? JSON.parse(value) : value
  } catch {
    throw badRequest('_payload must be a JSON object.')
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw badRequest('_payload must be a JSON object.')
  return parsed as Record<string, unknown>
}

export const readJSON = async (req: PayloadRequest): Promise<Record<string, unknown>> => {
  let data: unknown
  try {
    data = await req.json?.()
  } catch {
    throw badRequest('Invalid JSON')
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw badRequest('The body must be a JSON object.')
  return data as Record<string, unknown>
}

const isUniqueViolation = (error: unknown, field: string) =>
  error instanceof ValidationError &&
  (error.data as { errors?: { path?: string }[] } | undefined)?.errors?.some((item) => item.path === field)

/**
 * Find by audit_log_id, then update or create, in one transaction where the db adapter has them
 * (the operations join `req`'s transaction instead of opening their own). A create that loses a
 * race against another request's create hits the unique index: it is retried once, as an update.
 */
export const upsertByAuditLogId = async ({
  req,
  collection,
  auditLogId,
  write,
}: {
  req: PayloadRequest
  collection: CollectionSlug
  auditLogId: string
  write: (existingID: number | string | undefined) => Promise<Record<string, unknown>>
}): Promise<Answer> => {
  for (let attempt = 1; ; attempt++) {
    const ownsTransaction = await initTransaction(req)
    try {
      const { docs } = await req.payload.find({
        collection,
        where: { audit_log_id: { equals: auditLogId } },
        limit: 1,
        depth: 0,
        pagination: false,
        overrideAccess: false,
        req,
      })
      const existing = docs[0] as { id: number | string } | undefined
      const doc = await write(existing?.id)
      if (ownsTransaction) await commitTransaction(req)
      return { doc, created: !existing }
    } catch (error) {
      if (ownsTransaction) await killTransaction(req)
      if (attempt === 1 && isUniqueViolation(error, 'audit_log_id')) continue
      throw error
    }
  }
}

/**
 * Payload's own create (no `id`) or update of the media document with `file`, as any upload runs
 * (access, hooks, file checks, storage adapter); the file's temp copy is removed afterwards.
 */
export const writeMediaDocument = async (
  req: PayloadRequest,
  mediaSlug: string,
  id: number | string | undefined,
  data: Record<string, unknown>,
  file: PayloadFile,
) => {
  delete req.context._payloadCloudStorage // the cloud-storage plugin's copy of an earlier attempt's file
  try {
    const common = { collection: mediaSlug as CollectionSlug, data, file, overrideAccess: false, req }
    return id === undefined
      ? await req.payload.create({ ...common, overwriteExistingFiles: true })
      : await req.payload.update({ ...common, id, overwriteExistingFiles: true })
  } finally {
    if (file.tempFilePath) await rm(file.tempFilePath, { force: true })
  }
}
