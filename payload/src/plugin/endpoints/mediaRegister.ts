/**
 * PUT /api/<mediaSlug>/register: the document for an object the client already put in the bucket
 * at storage_path (direct multipart upload to S3/R2).
 *
 * How: Payload's create/update operation with a *client upload* file object, the shape Payload
 * builds for an object a browser uploaded directly with a storage plugin's `clientUploads`
 * (getFileFromClientUpload): name, size, MIME type, a `clientUploadContext` with the object's
 * prefix, and a temp file for Payload's checks. So:
 * - the operation runs as for any upload: access, field validation, the collection's hooks
 *   (deterministicFilename names it <audit_log_id>.mp4, prefixFromStoragePath sets `prefix`),
 *   Payload's file checks (MIME allowlist, ISO-BMFF structure), generateFileData fills
 *   filename/filesize/mimeType, the storage plugin's fields build `url`;
 * - the cloud-storage plugin's afterChange skips files with a clientUploadContext (already in
 *   storage), so the adapter neither writes the object nor, on an update to the same key,
 *   deletes it as the "previous" file. With Payload's local storage (no adapter) the operation
 *   would write the file itself, so register needs `disableLocalStorage` (a storage adapter).
 * The temp file is sparse: the object's first 4 KiB and top-level box headers, read by ranged
 * requests through the collection's storage handlers, at their offsets. Payload's checks read
 * exactly those bytes; with disableLocalStorage generateFileData never reads the rest.
 * Not Payload's REST client-upload flow itself: that needs a signed receipt from the storage
 * plugin's signed-URL endpoint (requiresClientUploadReceipt), and for a collection with a MIME
 * allowlist it downloads the whole object to a temp file to check it.
 */
import { open } from 'node:fs/promises'
import path from 'node:path'

import {
  APIError,
  isolateObjectProperty,
  type CollectionSlug,
  type Endpoint,
  type File as PayloadFile,
  type PayloadRequest,
} from 'payload'

import { newIncomingFile } from '../incoming'
import { Refusal } from '../refusal'
import type { UpsertOptions } from '../types'
import {
  answer,
  badRequest,
  distributionParams,
  extraFields,
  readJSON,
  requireUser,
  upsertByAuditLogId,
  writeMediaDocument,
} from './shared'

/**
 * Ranged reads of a stored object through the collection's storage handlers (the adapter's
 * staticHandler, as Payload's own client-upload probe calls them, with a clientUploadContext
 * naming the prefix since no document exists yet). Never reads more than asked for, even from a
 * handler that ignores the Range header.
 */
const storedObjectReader = (req: PayloadRequest, mediaSlug: string, filename: string, prefix: string) => {
  const handlers = req.payload.collections[mediaSlug as CollectionSlug]?.config.upload?.handlers ?? []
  return async (start: number, end: number): Promise<{ bytes: Buffer; total?: number } | undefined> => {
    const scoped = isolateObjectProperty(req, 'headers')
    scoped.headers = new Headers(req.headers)
    scoped.headers.set('Range', `bytes=${start}-${end}`)
    for (const handler of handlers) {
      let response: Response | void
      try {
        response = await handler(scoped, {
          doc: null as never,
          params: { clientUploadContext: { prefix }, collection: mediaSlug, filename },
        })
      } catch {
        continue // like Payload's own probe: a handler that cannot serve it is skipped
      }
      if (!response || !response.body || (response.status !== 200 && response.status !== 206)) continue
      const partial = response.status === 206
      const total = partial
        ? Number(response.headers.get('content-range')?.split('/')[1])
        : Number(response.headers.get('content-length'))
      const wanted = end - start + 1
      const skip = partial ? 0 : start
      const chunks: Buffer[] = []
      let length = 0
      const reader = response.body.getReader()
      try {
        while (length < skip + wanted) {
          const { done, value } = await reader.read()
          if (done || !value) break
          chunks.push(Buffer.from(value))
          length += value.length
        }
      } finally {
        await reader.cancel().catch(() => undefined)
      }
      return { bytes: Buffer.concat(chunks).subarray(skip, skip + wanted), total: Number.isFinite(total) ? total : undefined }
    }
    return undefined
  }
}

/** file-type looks at the first bytes; Payload's ISO-BMFF check walks the top-level box headers. */
const HEAD_BYTES = 4096
const MAX_BOXES = 10_000

/**
 * The parts of a stored MP4 that Payload's upload checks read: its first 4 KiB and the header of
 * every top-level box (one ranged read per box past the first 4 KiB: a handful for a plain MP4,
 * one per fragment for a fragmented one; not a download). Checks the object exists and has
 * `filesize` bytes.
 */
const readStoredHeaders = async (
  req: PayloadRequest,
  mediaSlug: string,
  { filename, prefix, filesize }: { filename: string; prefix: string; filesize: number },
) => {
  const read = storedObjectReader(req, mediaSlug, filename, prefix)
  const head = await read(0, Math.min(HEAD_BYTES, filesize) - 1)
  if (!head) throw new Refusal(`No stored object at ${prefix}/${filename}.`, 422)
  if (head.total !== undefined && head.total !== filesize) {
    throw new Refusal(`The stored object has ${head.total} bytes, not filesize ${filesize}.`, 422)
  }
  const parts = [{ position: 0, bytes: head.bytes }]
  let position = 0
  for (let boxes = 0; position + 8 <= filesize && boxes < MAX_BOXES; boxes++) {
    const header =
      position + 16 <= head.bytes.length
        ? head.bytes.subarray(position, position + 16)
        : (await read(position, Math.min(position + 16, filesize) - 1))?.bytes
    if (!header || header.length < 8) break
    if (position + 16 > head.bytes.length) parts.push({ position, bytes: header })
    const size32 = header.readUInt32BE(0)
    const size = size32 === 1 && header.length >= 16 ? Number(header.readBigUInt64BE(8)) : size32
    if (size32 === 0 || size < 8) break // to the end, or malformed: Payload's check decides
    position += size
  }
  return parts
}

/**
 * A sparse stand-in for the stored object: `filesize` bytes long, holding the real bytes Payload's
 * checks read (readStoredHeaders) and holes elsewhere, so it takes no disk space.
 */
const writeSparseCopy = async (target: string, filesize: number, parts: { position: number; bytes: Buffer }[]) => {
  const handle = await open(target, 'wx')
  try {
    await handle.truncate(filesize)
    for (const { position, bytes } of parts) await handle.write(bytes, 0, bytes.length, position)
  } finally {
    await handle.close()
  }
}

export const mediaRegister = (mediaSlug: string, options: UpsertOptions): Endpoint => ({
  path: '/register',
  method: 'put',
  handler: async (req) => {
    requireUser(req)
    const body = await readJSON(req)
    const { fields, filename, prefix } = distributionParams(body)
    const { filesize, mimeType = 'video/mp4' } = body
    if (typeof filesize !== 'number' || !Number.isSafeInteger(filesize) || filesize < 1) {
      throw badRequest('filesize must be a positive whole number of bytes.')
    }
    if (mimeType !== 'video/mp4') throw badRequest('mimeType must be video/mp4.')
    // No size limit: the upload limit protects this process, and no byte of a registered object passes
    // through it. The direct path exists precisely for assets over that limit.
    const upload = req.payload.collections[mediaSlug as CollectionSlug]?.config.upload
    if (!upload?.disableLocalStorage) {
      throw new APIError(`register needs a storage adapter on '${mediaSlug}' (a cloud-storage plugin).`, 501)
    }
    const data = { ...extraFields(body._payload), ...fields }
    const parts = await readStoredHeaders(req, mediaSlug, { filename, prefix, filesize })

    const result = await upsertByAuditLogId({
      req,
      collection: mediaSlug as CollectionSlug,
      auditLogId: fields.audit_log_id,
      write: async (id) => {
        const tempFilePath = await newIncomingFile(req.payload.config, options, 'register')
        await writeSparseCopy(tempFilePath, filesize, parts)
        const file = {
          name: filename,
          data: Buffer.alloc(0),
          mimetype: mimeType,
          size: filesize,
          tempFilePath,
          clientUploadContext: { prefix },
        } as PayloadFile
        return writeMediaDocument(req, mediaSlug, id, data, file)
      },
    })
    return answer(result)
  },
})
