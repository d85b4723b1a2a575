/**
 * The ingest workers (src/plugin/ingestWorkers.ts) on their own: files written and hashed right,
 * uploads at once on the pool, chunks handed over without a copy (or copied when they share their
 * memory), backpressure, abort, a file that exists. The run ending at all shows that idle workers
 * do not keep the process alive.
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'

import { INGEST_HIGH_WATER_BYTES, MAX_INGEST_WORKERS, openIngestFile } from '../src/plugin/ingestWorkers'

const dir = mkdtempSync(path.join(os.tmpdir(), 'distribution-ingest-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** `bytes` in chunks of `size` that own their memory, as a socket's do. */
const chunksOf = (bytes: Buffer, size: number) => {
  const chunks: Buffer[] = []
  for (let offset = 0; offset < bytes.length; offset += size) chunks.push(Buffer.from(Uint8Array.prototype.slice.call(bytes, offset, offset + size).buffer))
  return chunks
}

describe('ingest workers', () => {
  test('writes and hashes the chunks in order; a chunk owning its memory is handed over, not copied', async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 123)
    const target = path.join(dir, 'one')
    const file = await openIngestFile(target)
    const chunks = chunksOf(bytes, 64 * 1024)
    for (const chunk of chunks) file.write(chunk)

    assert.equal(chunks[0].buffer.byteLength, 0) // transferred to the worker
    assert.deepEqual(await file.end(), { size: bytes.length, hex: sha256(bytes) })
    assert.ok(readFileSync(target).equals(bytes))
  })

  test('a chunk that shares its memory (a slice) is copied: the caller keeps its bytes', async () => {
    const bytes = randomBytes(100_000)
    const digest = sha256(bytes)
    const file = await openIngestFile(path.join(dir, 'slices'))
    file.write(bytes.subarray(0, 50_000))
    file.write(bytes.subarray(50_000))

    assert.equal(bytes.length, 100_000)
    assert.equal(sha256(bytes), digest) // not detached, unchanged
    assert.deepEqual(await file.end(), { size: bytes.length, hex: digest })
  })

  test('more uploads at once than workers: each file right', async () => {
    const uploads = Array.from({ length: MAX_INGEST_WORKERS * 2 + 1 }, (_, index) => ({
      bytes: randomBytes(1024 * 1024 + index * 4099),
      target: path.join(dir, `many-${index}`),
    }))
    const files = await Promise.all(uploads.map(({ target }) => openIngestFile(target)))
    // Interleaved, as concurrent requests deliver them.
    const chunked = uploads.map(({ bytes }) => chunksOf(bytes, 16 * 1024))
    for (let round = 0; chunked.some((chunks) => round < chunks.length); round++) {
      chunked.forEach((chunks, index) => chunks[round] && files[index].write(chunks[round]))
    }
    const results = await Promise.all(files.map((file) => file.end()))

    uploads.forEach(({ bytes, target }, index) => {
      assert.deepEqual(results[index], { size: bytes.length, hex: sha256(bytes) })
      assert.ok(readFileSync(target).equals(bytes))
    })
  })

  test('write answers false past the high-water mark; onDrain follows once the worker caught up', async () => {
    const file = await openIngestFile(path.join(dir, 'backpressure'))
    const chunk = () => Buffer.from(randomBytes(256 * 1024).buffer)
    let writes = 0
    while (file.write(chunk())) writes++
    assert.ok(writes * 256 * 1024 < INGEST_HIGH_WATER_BYTES)
    await new Promise<void>((resolve) => (file.onDrain = resolve))
    assert.equal(file.write(chunk()), true)
    assert.equal((await file.end()).size, (writes + 2) * 256 * 1024)
  })

  test('abort closes the file (the caller removes it); the worker serves the next upload', async () => {
    const target = path.join(dir, 'aborted')
    const file = await openIngestFile(target)
    file.write(Buffer.from(randomBytes(3 * 1024 * 1024).buffer))
    await file.abort()
    assert.ok(existsSync(target))
    rmSync(target)

    const next = await openIngestFile(target)
    next.write(Buffer.from('after'))
    assert.deepEqual(await next.end(), { size: 5, hex: sha256(Buffer.from('after')) })
  })

  test('a file that exists, or a folder that does not, is refused and left alone', async () => {
    const existing = path.join(dir, 'existing')
    writeFileSync(existing, 'keep')
    await assert.rejects(openIngestFile(existing), /EEXIST/)
    assert.equal(readFileSync(existing, 'utf8'), 'keep')
    await assert.rejects(openIngestFile(path.join(dir, 'missing', 'file')), /ENOENT/)
  })
})
