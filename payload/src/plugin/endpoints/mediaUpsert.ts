/** PUT /api/<mediaSlug>/upsert: the file itself as the body, the fields as query parameters. */
import { randomUUID } from 'node:crypto'
import { copyFile, link, rm } from 'node:fs/promises'
import path from 'node:path'

import type { CollectionSlug, Endpoint, File as PayloadFile, PayloadRequest } from 'payload'

import { newIncomingFile } from '../incoming'
import { nodeBodyOf } from '../nodeBody'
import { Refusal } from '../refusal'
import type { UpsertOptions } from '../types'
import { receiveBody, tooLarge } from './receiveBody'
import {
  answer,
  badRequest,
  distributionParams,
  extraFields,
  requireUser,
  upsertByAuditLogId,
  writeMediaDocument,
} from './shared'

/** payload.config's default limit for uploads (MAX_UPLOAD_BYTES), used when the config sets none. */
export const DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 ** 3

const maxFileSize = (req: PayloadRequest, options: UpsertOptions) =>
  options.maxFileSize ?? req.payload.config.upload?.limits?.fileSize ?? DEFAULT_MAX_UPLOAD_BYTES

/** Drain a body we refuse without reading, so the connection is not left half-read (never destroy it: the answer must still get out). */
const discardBody = async (req: PayloadRequest) => {
  const message = nodeBodyOf(req)
  if (message) message.resume()
  else await req.body?.cancel().catch(() => undefined)
}

/** The body is an MP4 (storage_path ends in .mp4): `video/mp4`, or untyped (`application/octet-stream`, none). */
const checkContentType = (req: PayloadRequest) => {
  const [essence] = (req.headers.get('content-type') || '').split(';', 1)
  const type = essence.trim().toLowerCase()
  if (type && type !== 'video/mp4' && type !== 'application/octet-stream') {
    throw badRequest('Content-Type must be video/mp4.')
  }
}

export const mediaUpsert = (mediaSlug: string, options: UpsertOptions): Endpoint => ({
  path: '/upsert',
  method: 'put',
  handler: async (req) => {
    let incoming: string | undefined
    try {
      requireUser(req)
      const query = Object.fromEntries(req.searchParams)
      const { fields } = distributionParams(query)
      const data = { ...extraFields(query._payload), ...fields }
      checkContentType(req)
      const limit = maxFileSize(req, options)
      const declared = req.headers.get('content-length')
      if (declared !== null && Number(declared) > limit) throw tooLarge(limit)

      incoming = await newIncomingFile(req.payload.config, options, 'upload')
      const received = await receiveBody(req, incoming, limit)
      if (received.checksum !== fields.checksum) {
        throw new Refusal(`checksum mismatch: the body's digest is ${received.checksum}.`, 422)
      }

      const source = incoming
      const result = await upsertByAuditLogId({
        req,
        collection: mediaSlug as CollectionSlug,
        auditLogId: fields.audit_log_id,
        write: async (id) => {
          // Each attempt gets its own hard link of the received file: Payload unlinks the
          // operation's temp file when it ends (with `upload.useTempFiles`), also on failure.
          const tempFilePath = `${source}.${randomUUID()}`
          await link(source, tempFilePath).catch(() => copyFile(source, tempFilePath)) // a filesystem without hard links
          // Payload's upload file object: with tempFilePath (and an empty buffer) Payload checks the
          // file on disk and the storage adapter reads it from there; it is never loaded into memory.
          const file: PayloadFile = {
            name: path.posix.basename(fields.storage_path),
            data: Buffer.alloc(0),
            mimetype: 'video/mp4',
            size: received.size,
            tempFilePath,
          }
          return writeMediaDocument(req, mediaSlug, id, data, file)
        },
      })
      return answer(result)
    } catch (error) {
      await discardBody(req)
      throw error
    } finally {
      if (incoming) await rm(incoming, { force: true })
    }
  },
})
