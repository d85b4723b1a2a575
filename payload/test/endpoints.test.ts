/**
 * The plugin's one-round-trip endpoints (src/plugin/endpoints/) on a project set up like this
 * one: the plugin creates `media`, uploads stream to temp files (`upload.useTempFiles`), the
 * local-disk adapter stores by prefix and the upsert endpoint receives into <media>/.incoming.
 * Real Payload, SQLite and a media folder in a temp dir, requests through handleEndpoints (test/setup.ts).
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { before, describe, test } from 'node:test'

import { localDiskAdapter } from '../src/localDiskAdapter'
import { auth, distributionFields, SAMPLE_MP4, SAMPLE_V2_MP4, sha256, startPayload, upsertURL, workFolders } from './setup'

const MAX_FILE_SIZE = 64 * 1024

/** A valid ISO-BMFF file of `size` bytes: an `ftyp` box, then one `mdat` box. */
const fakeMp4 = (size: number) => {
  const bytes = Buffer.alloc(size, 7)
  bytes.writeUInt32BE(24, 0)
  bytes.write('ftypisom', 4, 'latin1')
  bytes.writeUInt32BE(0x200, 12)
  bytes.write('isommp41', 16, 'latin1')
  bytes.writeUInt32BE(size - 24, 24)
  bytes.write('mdat', 28, 'latin1')
  return bytes
}

const folders = workFolders('endpoints')
const { workDir, mediaDir } = folders
const incomingDir = path.join(mediaDir, '.incoming')
const payloadTempDir = path.join(workDir, 'payload-tmp')

// As this project's own config: the plugin's `media`, uploads streamed to temp files, upsert receiving into .incoming.
const project = startPayload({
  name: 'endpoints',
  folders,
  plugin: { incomingDir },
  upload: { useTempFiles: true, tempFileDir: payloadTempDir, limits: { fileSize: MAX_FILE_SIZE } },
})
const { send, download, upsertMedia, registerMedia, putObject, findMedia } = project

const leftovers = () => [
  ...(existsSync(incomingDir) ? readdirSync(incomingDir) : []),
  ...(existsSync(payloadTempDir) ? readdirSync(payloadTempDir) : []),
]

describe('PUT /api/media/upsert', () => {
  test('creates, then a re-publish replaces the file in place on the same document', async () => {
    const first = await upsertMedia('dist_up_1', SAMPLE_MP4)

    assert.equal(first.status, 201, JSON.stringify(first.body))
    assert.equal(first.body.created, true)
    const doc = first.body.doc
    assert.deepEqual(
      [doc.project_id, doc.audit_log_id, doc.checksum, doc.storage_path, doc.filename, doc.prefix, doc.mimeType, doc.filesize],
      ['proj-7', 'dist_up_1', sha256(SAMPLE_MP4), 'proj-7/mvp/dist_up_1.mp4', 'dist_up_1.mp4', 'proj-7/mvp', 'video/mp4', SAMPLE_MP4.length],
    )
    const stored = path.join(mediaDir, 'proj-7/mvp/dist_up_1.mp4')
    assert.deepEqual(readFileSync(stored), SAMPLE_MP4)

    const again = await upsertMedia('dist_up_1', SAMPLE_V2_MP4)

    assert.equal(again.status, 200, JSON.stringify(again.body))
    assert.equal(again.body.created, false)
    assert.equal(again.body.doc.id, doc.id)
    assert.equal(again.body.doc.filename, 'dist_up_1.mp4') // in place, not dist_up_1-1.mp4
    assert.equal(again.body.doc.filesize, SAMPLE_V2_MP4.length)
    assert.equal(again.body.doc.checksum, sha256(SAMPLE_V2_MP4))
    assert.deepEqual(readFileSync(stored), SAMPLE_V2_MP4)
    assert.deepEqual(readdirSync(path.dirname(stored)), ['dist_up_1.mp4'])
    assert.equal((await findMedia('dist_up_1')).length, 1)
    assert.deepEqual(leftovers(), [])

    const file = await download(again.body.doc.url, auth)
    assert.equal(file.status, 200)
    assert.deepEqual(file.bytes, SAMPLE_V2_MP4)
  })

  test('a checksum mismatch answers 422 and writes nothing', async () => {
    const answer = await upsertMedia('dist_up_2', SAMPLE_MP4, { checksum: sha256(SAMPLE_V2_MP4) })

    assert.equal(answer.status, 422)
    assert.match(answer.body.errors[0].message, /checksum mismatch/)
    assert.deepEqual(await findMedia('dist_up_2'), [])
    assert.equal(existsSync(path.join(mediaDir, 'proj-7/mvp/dist_up_2.mp4')), false)
    assert.deepEqual(leftovers(), [])
  })

  test('a body that breaks off writes nothing and leaves no temp file', async () => {
    let sent = false
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true
          controller.enqueue(new Uint8Array(SAMPLE_MP4.subarray(0, 1000)))
        } else {
          controller.error(new Error('client went away'))
        }
      },
    })
    const answer = await send('PUT', upsertURL('dist_up_3', SAMPLE_MP4), {
      body,
      headers: { ...auth, 'Content-Type': 'video/mp4' },
    })

    assert.equal(answer.status, 400)
    assert.match(answer.body.errors[0].message, /incomplete/)
    assert.deepEqual(await findMedia('dist_up_3'), [])
    assert.deepEqual(leftovers(), [])
  })

  test('a body shorter than its Content-Length is refused', async () => {
    const answer = await send('PUT', upsertURL('dist_up_4', SAMPLE_MP4), {
      body: new Uint8Array(SAMPLE_MP4),
      headers: { ...auth, 'Content-Type': 'video/mp4', 'Content-Length': String(SAMPLE_MP4.length + 10) },
    })

    assert.equal(answer.status, 400)
    assert.deepEqual(await findMedia('dist_up_4'), [])
    assert.deepEqual(leftovers(), [])
  })

  test('over the upload limit answers 413 and writes nothing', async () => {
    const big = fakeMp4(MAX_FILE_SIZE + 1)
    const answer = await upsertMedia('dist_up_5', big)

    assert.equal(answer.status, 413)
    assert.deepEqual(await findMedia('dist_up_5'), [])
    assert.deepEqual(leftovers(), [])
    // just under the limit is fine
    assert.equal((await upsertMedia('dist_up_6', fakeMp4(MAX_FILE_SIZE))).status, 201)
  })

  test('a file that is not an MP4 is refused by Payload (400), nothing stored', async () => {
    const text = Buffer.from('not a video at all'.repeat(10))
    const answer = await upsertMedia('dist_up_7', text)

    assert.equal(answer.status, 400, JSON.stringify(answer.body))
    assert.deepEqual(await findMedia('dist_up_7'), [])
    assert.deepEqual(leftovers(), [])
  })

  test('needs a user: 401 without a key or with a wrong one', async () => {
    assert.equal((await upsertMedia('dist_up_8', SAMPLE_MP4, {}, {} as typeof auth)).status, 401)
    const wrong = await upsertMedia('dist_up_8', SAMPLE_MP4, {}, { Authorization: 'users API-Key nope' })
    assert.equal(wrong.status, 401)
    assert.ok(wrong.body.errors[0].message)
    assert.deepEqual(await findMedia('dist_up_8'), [])
  })

  test('bad parameters answer 400', async () => {
    const cases: Record<string, string>[] = [
      { checksum: 'sha256:abc' },
      { checksum: 'md5:' + 'a'.repeat(64) },
      { storage_path: 'proj-7/mvp/other.mp4' },
      { storage_path: 'proj-7/../dist_up_9.mp4' },
      { storage_path: '/proj-7/mvp/dist_up_9.mp4' },
      { storage_path: 'proj-7/.incoming/dist_up_9.mp4' },
      { storage_path: 'dist_up_9.mp4' },
      { project_id: '' },
      { _payload: '[1]' },
    ]
    for (const overrides of cases) {
      const answer = await upsertMedia('dist_up_9', SAMPLE_MP4, overrides)
      assert.equal(answer.status, 400, JSON.stringify(overrides))
      assert.ok(answer.body.errors[0].message, JSON.stringify(answer.body))
    }
    const typed = await send('PUT', upsertURL('dist_up_9', SAMPLE_MP4), {
      body: new Uint8Array(SAMPLE_MP4),
      headers: { ...auth, 'Content-Type': 'image/png' },
    })
    assert.equal(typed.status, 400)
    assert.deepEqual(await findMedia('dist_up_9'), [])
    assert.deepEqual(leftovers(), [])
  })
})

/** A body in pieces of `size` bytes, as a stream (fetch sends it chunked, no Content-Length); `sent()` counts what was read of it. */
const inPieces = (bytes: Buffer, size = 16 * 1024) => {
  let offset = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(new Uint8Array(bytes.subarray(offset, (offset += size))))
    },
  })
  return Object.assign(stream, { sent: () => Math.min(offset, bytes.length) })
}

const until = async (condition: () => boolean | Promise<boolean>, what: string) => {
  for (let waited = 0; !(await condition()); waited += 20) {
    if (waited > 10_000) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// Over HTTP, src/server.ts's listener attaches the Node request and the endpoint hands its Buffers
// to an ingest worker instead of reading the web stream: the same guarantees on that path.
describe('PUT /api/media/upsert over HTTP (the Node request body)', () => {
  /** A socket to the upsert endpoint with the request's head written; `framing` says how its body comes. */
  const rawPut = async (auditLogId: string, framing: string) => {
    const url = new URL(upsertURL(auditLogId, SAMPLE_MP4), project.baseURL)
    const socket = net.connect(Number(url.port), url.hostname)
    await once(socket, 'connect')
    socket.write(
      `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${auth.Authorization}\r\n` +
        `Content-Type: video/mp4\r\n${framing}\r\n\r\n`,
    )
    return socket
  }

  const put = (auditLogId: string, body: BodyInit, bytes: Buffer, headers: Record<string, string> = {}) =>
    fetch(new URL(upsertURL(auditLogId, bytes), project.baseURL), {
      method: 'PUT',
      body,
      headers: { ...auth, 'Content-Type': 'video/mp4', ...headers },
      // @ts-expect-error Node's fetch needs duplex for streamed request bodies
      duplex: 'half',
    })

  test('stores the body, with a Content-Length or chunked', async () => {
    const sized = await put('dist_http_1', new Uint8Array(SAMPLE_MP4), SAMPLE_MP4)
    assert.equal(sized.status, 201, await sized.text())
    const chunked = await put('dist_http_2', inPieces(SAMPLE_V2_MP4, 1000), SAMPLE_V2_MP4)
    assert.equal(chunked.status, 201, await chunked.text())

    assert.deepEqual(readFileSync(path.join(mediaDir, 'proj-7/mvp/dist_http_1.mp4')), SAMPLE_MP4)
    assert.deepEqual(readFileSync(path.join(mediaDir, 'proj-7/mvp/dist_http_2.mp4')), SAMPLE_V2_MP4)
    assert.equal((await findMedia('dist_http_2'))[0].checksum, sha256(SAMPLE_V2_MP4))
    assert.deepEqual(leftovers(), [])
  })

  test('a checksum mismatch answers 422, nothing stored', async () => {
    const answer = await put('dist_http_3', inPieces(SAMPLE_MP4), SAMPLE_V2_MP4)
    assert.equal(answer.status, 422)
    assert.match((await answer.json()).errors[0].message, /checksum mismatch/)
    assert.deepEqual(await findMedia('dist_http_3'), [])
    assert.deepEqual(leftovers(), [])
  })

  test('a chunked body over the limit answers 413 while it is read, the rest is drained; nothing stored', async () => {
    // Far more than the socket buffers hold: the refusal comes while the client is still sending,
    // and the client can finish sending only if the server drains the rest.
    const socket = await rawPut('dist_http_4', 'Transfer-Encoding: chunked')
    let answer = ''
    socket.on('data', (chunk) => (answer += chunk))
    const piece = fakeMp4(1024 * 1024)
    for (let sent = 0; sent < 32; sent++) {
      socket.write(`${piece.length.toString(16)}\r\n`)
      socket.write(piece)
      if (!socket.write('\r\n')) await Promise.race([once(socket, 'drain'), once(socket, 'close')])
      assert.ok(!socket.destroyed, `the server closed the connection after ${sent} MiB`)
    }
    await new Promise<void>((resolve) => socket.end('0\r\n\r\n', () => resolve()))
    await until(() => answer.includes('File size limit has been reached'), 'the answer')
    socket.destroy()

    assert.match(answer, /^HTTP\/1\.1 413 /)
    assert.deepEqual(await findMedia('dist_http_4'), [])
    assert.deepEqual(leftovers(), [])
  })

  test('a body that breaks off mid-way: nothing stored, the temp file removed', async () => {
    const socket = await rawPut('dist_http_5', `Content-Length: ${SAMPLE_MP4.length}`)
    socket.write(SAMPLE_MP4.subarray(0, 1000))
    await until(() => leftovers().some((name) => name.endsWith('.upload')), 'the endpoint to receive')
    socket.destroy()

    await until(() => leftovers().length === 0, 'the temp file to be removed')
    assert.deepEqual(await findMedia('dist_http_5'), [])
    assert.equal(existsSync(path.join(mediaDir, 'proj-7/mvp/dist_http_5.mp4')), false)
  })

  test('a body shorter than its Content-Length (the client half-closes) is refused, nothing stored', async () => {
    const socket = await rawPut('dist_http_6', `Content-Length: ${SAMPLE_MP4.length + 10}`)
    let answer = ''
    socket.on('data', (chunk) => (answer += chunk))
    socket.end(SAMPLE_MP4)
    await once(socket, 'close')

    assert.doesNotMatch(answer, /^HTTP\/1\.1 20/)
    await until(() => leftovers().length === 0, 'the temp file to be removed')
    assert.deepEqual(await findMedia('dist_http_6'), [])
  })
})

describe('PUT /api/distributionRecords/upsert', () => {
  const record = (title: string, auditLogId = 'dist_rec_1') =>
    JSON.stringify({ ...distributionFields(auditLogId), title, tags: ['a', 'b'] })
  const put = (body: string, headers: Record<string, string> = auth) =>
    send('PUT', '/api/distributionRecords/upsert', { body, headers })

  // A record is the publication of a media document's file: the files first.
  before(async () => {
    for (const id of ['dist_rec_1', 'dist_rec_2', 'dist_rec_3']) assert.equal((await upsertMedia(id, SAMPLE_MP4)).status, 201)
  })

  test('creates (201), then updates the same record (200)', async () => {
    const first = await put(record('First'))
    assert.equal(first.status, 201, JSON.stringify(first.body))
    assert.equal(first.body.created, true)
    assert.equal(first.body.doc.title, 'First')
    assert.deepEqual(first.body.doc.tags, ['a', 'b'])

    const second = await put(record('Second'))
    assert.equal(second.status, 200, JSON.stringify(second.body))
    assert.equal(second.body.created, false)
    assert.equal(second.body.doc.id, first.body.doc.id)
    assert.equal(second.body.doc.title, 'Second')
  })

  test('two concurrent upserts of a new record: one creates, the other updates it', async () => {
    const answers = await Promise.all([put(record('A', 'dist_rec_2')), put(record('B', 'dist_rec_2'))])

    assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 201], JSON.stringify(answers))
    const { docs } = await project.payload.find({ collection: 'distributionRecords', where: { audit_log_id: { equals: 'dist_rec_2' } } })
    assert.equal(docs.length, 1)
  })

  test('refusals: 401 without a user, 400 without audit_log_id or with invalid JSON or fields', async () => {
    assert.equal((await put(record('x', 'dist_rec_3'), {})).status, 401)
    assert.equal((await put(JSON.stringify({ title: 'no id' }))).status, 400)
    assert.equal((await put('{not json')).status, 400)
    const invalid = await put(JSON.stringify({ audit_log_id: 'dist_rec_3', title: 'missing required fields' }))
    assert.equal(invalid.status, 400)
    assert.equal(invalid.body.errors[0].name, 'ValidationError')
    const { totalDocs } = await project.payload.count({ collection: 'distributionRecords', where: { audit_log_id: { equals: 'dist_rec_3' } } })
    assert.equal(totalDocs, 0)
  })
})

describe('PUT /api/media/register', () => {
  test('creates the document for an object already in storage, without writing or deleting it', async () => {
    const target = putObject('proj-7/direct/dist_reg_1.mp4', SAMPLE_MP4)
    const inode = statSync(target).ino

    const first = await registerMedia('dist_reg_1', SAMPLE_MP4)

    assert.equal(first.status, 201, JSON.stringify(first.body))
    assert.equal(first.body.created, true)
    const doc = first.body.doc
    assert.deepEqual(
      [doc.filename, doc.prefix, doc.filesize, doc.mimeType, doc.storage_path, doc.checksum],
      ['dist_reg_1.mp4', 'proj-7/direct', SAMPLE_MP4.length, 'video/mp4', 'proj-7/direct/dist_reg_1.mp4', sha256(SAMPLE_MP4)],
    )
    assert.match(doc.url, /^\/api\/media\/file\/dist_reg_1\.mp4/)
    assert.equal(statSync(target).ino, inode) // untouched: not rewritten
    const file = await download(doc.url, auth)
    assert.equal(file.status, 200)
    assert.deepEqual(file.bytes, SAMPLE_MP4)

    // A re-publish: the client overwrote the object, registers again.
    putObject('proj-7/direct/dist_reg_1.mp4', SAMPLE_V2_MP4)
    const again = await registerMedia('dist_reg_1', SAMPLE_V2_MP4)

    assert.equal(again.status, 200, JSON.stringify(again.body))
    assert.equal(again.body.created, false)
    assert.equal(again.body.doc.id, doc.id)
    assert.equal(again.body.doc.filesize, SAMPLE_V2_MP4.length)
    assert.equal(again.body.doc.filename, 'dist_reg_1.mp4')
    assert.deepEqual(readFileSync(target), SAMPLE_V2_MP4) // still there: not deleted as the "previous" file
    assert.deepEqual(leftovers(), [])
  })

  test("Payload's own file checks run on the stored object's headers: not an MP4 -> 400", async () => {
    const text = Buffer.from('just text, no video here'.repeat(20))
    putObject('proj-7/direct/dist_reg_3.mp4', text)
    const truncated = SAMPLE_MP4.subarray(0, SAMPLE_MP4.length - 100)
    putObject('proj-7/direct/dist_reg_4.mp4', truncated)

    const notVideo = await registerMedia('dist_reg_3', text)
    const broken = await registerMedia('dist_reg_4', truncated)

    assert.equal(notVideo.status, 400, JSON.stringify(notVideo.body))
    assert.equal(broken.status, 400, JSON.stringify(broken.body))
    assert.match(broken.body.errors[0].data.errors[0].message, /Invalid or corrupted ISO base media file/)
    assert.deepEqual([...(await findMedia('dist_reg_3')), ...(await findMedia('dist_reg_4'))], [])
    assert.deepEqual(leftovers(), [])
  })

  test('registers an object larger than the upload limit (the direct path exists for those)', async () => {
    const padding = MAX_FILE_SIZE + 1 - SAMPLE_MP4.length - 8
    const free = Buffer.alloc(8 + padding)
    free.writeUInt32BE(8 + padding, 0)
    free.write('free', 4)
    const large = Buffer.concat([SAMPLE_MP4, free])
    putObject('proj-7/direct/dist_reg_large.mp4', large)
    const registered = await registerMedia('dist_reg_large', large)
    assert.equal(registered.status, 201, JSON.stringify(registered.body))
    assert.equal(registered.body.doc.filesize, MAX_FILE_SIZE + 1)
  })

  test('refuses a missing object, a size that differs, bad parameters and anonymous calls', async () => {
    assert.equal((await registerMedia('dist_reg_2', SAMPLE_MP4)).status, 422) // nothing stored there
    putObject('proj-7/direct/dist_reg_2.mp4', SAMPLE_MP4)
    assert.equal((await registerMedia('dist_reg_2', SAMPLE_MP4, { filesize: 12 })).status, 422)
    assert.equal((await registerMedia('dist_reg_2', SAMPLE_MP4, { filesize: '3200' })).status, 400)
    assert.equal((await registerMedia('dist_reg_2', SAMPLE_MP4, { filesize: 0 })).status, 400)
    assert.equal((await registerMedia('dist_reg_2', SAMPLE_MP4, { mimeType: 'image/png' })).status, 400)
    assert.equal((await registerMedia('dist_reg_2', SAMPLE_MP4, { storage_path: 'proj-7/direct/x.mp4' })).status, 400)
    assert.equal((await registerMedia('dist_reg_2', SAMPLE_MP4, {}, {} as typeof auth)).status, 401)
    assert.deepEqual(await findMedia('dist_reg_2'), [])
    // the object itself stays
    assert.deepEqual(readFileSync(path.join(mediaDir, 'proj-7/direct/dist_reg_2.mp4')), SAMPLE_MP4)
  })
})

describe('localDiskAdapter ingest', () => {
  const adapter = localDiskAdapter(mediaDir)({ collection: { slug: 'media' } as never, prefix: '' })
  const handleUpload = async (tempFilePath: string, storageFilePath: string) =>
    adapter.handleUpload({
      clientUploadContext: undefined,
      collection: { slug: 'media' } as never,
      data: {},
      file: { buffer: Buffer.alloc(0), filename: path.basename(storageFilePath), filesize: 0, mimeType: 'video/mp4', tempFilePath },
      req: {} as never,
      storageFilePath,
    })

  test('hard-links a temp file on the same filesystem into place (no copy), replacing the old file', async () => {
    mkdirSync(incomingDir, { recursive: true })
    const temp = path.join(incomingDir, 'ingest-test.upload')
    writeFileSync(temp, SAMPLE_V2_MP4)
    const target = path.join(mediaDir, 'proj-7/ingest/a.mp4')
    mkdirSync(path.dirname(target), { recursive: true })
    writeFileSync(target, SAMPLE_MP4)

    await handleUpload(temp, 'proj-7/ingest/a.mp4')

    assert.equal(statSync(target).ino, statSync(temp).ino)
    assert.deepEqual(readFileSync(target), SAMPLE_V2_MP4)
    assert.deepEqual(readdirSync(path.dirname(target)), ['a.mp4']) // no staged leftovers
    rmSync(temp)
    assert.deepEqual(readFileSync(target), SAMPLE_V2_MP4)
  })

  test('never writes into a hidden folder such as .incoming', async () => {
    const temp = path.join(workDir, 'hidden-test.upload')
    writeFileSync(temp, SAMPLE_MP4)
    await assert.rejects(handleUpload(temp, '.incoming/x.mp4'), /hidden folder/)
  })
})
