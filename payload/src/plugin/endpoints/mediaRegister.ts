/**
 * One-round-trip endpoints for the distribution client (issue #13):
 *
 *   PUT /api/<mediaSlug>/upsert?audit_log_id&project_id&checksum&storage_path  raw MP4 body
 *   PUT /api/<mediaSlug>/register   JSON {audit_log_id, project_id, checksum, storage_path, filesize, mimeType}
 *   PUT /api/distributionRecords/upsert   JSON record
 *
 * Each finds the document by audit_log_id and updates it, or creates it, through Payload's own
 * local API with the request's user (`overrideAccess: false`), so access rules, field
 * validation, the collection's hooks (ours and the host's) and the storage adapter all run.
 * Answer: `201 {doc, created: true}` or `200 {doc, created: false}`; errors are Payload's
 * `{errors: [{message}]}` (thrown APIErrors, formatted by handleEndpoints).
 */
import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { copyFile, link, mkdir, open, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'

import {
  APIError,
  commitTransaction,
  initTransaction,
  isolateObjectProperty,
  killTransaction,
  UnauthorizedError,
  ValidationError,
  type CollectionSlug,
  type Endpoint,
  type File as PayloadFile,
  type PayloadRequest,
} from 'payload'

/** payload.config's default limit for uploads (MAX_UPLOAD_BYTES), used when the config sets none. */
export const DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 ** 3

export type UpsertOptions = {
  /**
   * Folder for the upsert endpoint's temp files. Put it on the media folder's filesystem (e.g.
   * `<MEDIA_DIR>/.incoming`) so a local-disk adapter can hard-link the file into place instead of
   * copying it. Default: Payload's `upload.tempFileDir`, else the OS temp folder.
   */
  incomingDir?: string
  /** Largest accepted file. Default: Payload's `upload.limits.fileSize`, else 5 GiB. */
  maxFileSize?: number
}

const CHECKSUM = /^sha256:[0-9a-f]{64}$/

type Answer = { doc: Record<string, unknown>; created: boolean }

const answer = ({ doc, created }: Answer) => Response.json({ doc, created }, { status: created ? 201 : 200 })

const badRequest = (message: string) => new APIError(message, 400)

const requireUser = (req: PayloadRequest) => {
  if (!req.user) throw new UnauthorizedError(req.t)
}

/** Drain a body we refuse without reading, so the connection is not left half-read. */
const discardBody = async (req: PayloadRequest) => {
  await req.body?.cancel().catch(() => undefined)
}

const maxFileSize = (req: PayloadRequest, options: UpsertOptions) =>
  options.maxFileSize ?? req.payload.config.upload?.limits?.fileSize ?? DEFAULT_MAX_UPLOAD_BYTES

const tooLarge = (limit: number) => new APIError(`File size limit has been reached (${limit} bytes).`, 413)

/** The distribution fields, validated: a storage_path Django would write, ending in /<audit_log_id>.mp4. */
const distributionParams = (source: Record<string, unknown>) => {
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
  const segments = storagePath.split('/')
  if (
    storagePath.includes('\\') ||
    segments.length < 2 ||
    segments.some((segment) => !segment || segment.startsWith('.')) // no '', '.', '..' nor hidden folders
  ) {
    throw badRequest('storage_path must be a relative path without empty, "." or ".." segments.')
  }
  if (segments[segments.length - 1] !== `${auditLogId}.mp4`) {
    throw badRequest(`storage_path must end with /${auditLogId}.mp4.`)
  }
  return {
    fields: { project_id: projectId, audit_log_id: auditLogId, checksum, storage_path: storagePath },
    filename: path.posix.basename(storagePath),
    prefix: path.posix.dirname(storagePath),
  }
}

/** Extra fields a host collection may require (e.g. `alt`), as Payload's own `_payload` JSON. */
const extraFields = (value: unknown): Record<string, unknown> => {
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

const readJSON = async (req: PayloadRequest): Promise<Record<string, unknown>> => {
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
 * race against another request's create hits the unique index: it is retried once, now as an update.
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
 * Stream the body to `target`, hashing and counting as it goes; never more than a chunk or two in
 * memory. Refuses (and removes the file) over `limit` bytes, or when the body breaks off.
 */
const receiveBody = async (req: PayloadRequest, target: string, limit: number) => {
  if (!req.body) throw badRequest('The request has no body.')
  const hash = createHash('sha256')
  let size = 0
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length
      if (size > limit) return callback(tooLarge(limit))
      hash.update(chunk)
      callback(null, chunk)
    },
  })
  try {
    await pipeline(Readable.fromWeb(req.body as NodeReadableStream), meter, createWriteStream(target, { flags: 'wx' }))
  } catch (error) {
    await rm(target, { force: true })
    if (error instanceof APIError) throw error
    throw badRequest('The request body was incomplete (the upload was interrupted).')
  }
  const declared = req.headers.get('content-length')
  if (declared !== null && Number(declared) !== size) {
    await rm(target, { force: true })
    throw badRequest('The request body was incomplete (the upload was interrupted).')
  }
  return { size, checksum: `sha256:${hash.digest('hex')}` }
}

/** The body is an MP4 (storage_path ends in .mp4): `video/mp4`, or untyped (`application/octet-stream`, none). */
const checkContentType = (req: PayloadRequest) => {
  const [essence] = (req.headers.get('content-type') || '').split(';', 1)
  const type = essence.trim().toLowerCase()
  if (type && type !== 'video/mp4' && type !== 'application/octet-stream') {
    throw badRequest('Content-Type must be video/mp4.')
  }
}

/**
 * Payload's own create (no `id`) or update of the media document with `file`, as any upload runs
 * (access, hooks, file checks, storage adapter); the file's temp copy is removed afterwards.
 */
const writeMediaDocument = async (
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

/** PUT /api/<mediaSlug>/upsert: the file itself as the body, the fields as query parameters. */
const mediaUpsert = (mediaSlug: string, options: UpsertOptions): Endpoint => ({
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

      const dir = options.incomingDir ?? req.payload.config.upload?.tempFileDir ?? os.tmpdir()
      await mkdir(dir, { recursive: true })
      incoming = path.join(dir, `${randomUUID()}.upload`)
      const received = await receiveBody(req, incoming, limit)
      if (received.checksum !== fields.checksum) {
        throw new APIError(`checksum mismatch: the body's digest is ${received.checksum}.`, 422)
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
  if (!head) throw new APIError(`No stored object at ${prefix}/${filename}.`, 422)
  if (head.total !== undefined && head.total !== filesize) {
    throw new APIError(`The stored object has ${head.total} bytes, not filesize ${filesize}.`, 422)
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
const mediaRegister = (mediaSlug: string, options: UpsertOptions): Endpoint => ({
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
    const dir = options.incomingDir ?? req.payload.config.upload?.tempFileDir ?? os.tmpdir()
    await mkdir(dir, { recursive: true })

    const result = await upsertByAuditLogId({
      req,
      collection: mediaSlug as CollectionSlug,
      auditLogId: fields.audit_log_id,
      write: async (id) => {
        const tempFilePath = path.join(dir, `${randomUUID()}.register`)
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

export const mediaEndpoints = (mediaSlug: string, options: UpsertOptions): Endpoint[] => [
  mediaUpsert(mediaSlug, options),
  mediaRegister(mediaSlug, options),
]

/** PUT /api/distributionRecords/upsert: the JSON record, found by its audit_log_id. */
export const recordsUpsert = (recordsSlug: string): Endpoint => ({
  path: '/upsert',
  method: 'put',
  handler: async (req) => {
    requireUser(req)
    const data = await readJSON(req)
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
