/**
 * Worker threads that write an upload's body to a file and hash it (SHA-256) as its chunks come.
 *
 * Why not the main thread: hashing costs it about 0.7 s per GiB (with the CPU's SHA
 * extensions), as much as everything else it does per byte; and every chunk Node reads from a
 * socket is a new 64 KiB ArrayBuffer, counted as V8's "external memory" until the garbage
 * collector frees it. Payload's heap is large and the main thread allocates little per chunk,
 * so young collections can come too seldom to free them in time, and V8 then runs a full
 * collection every few tens of MiB (measured in some server processes, not in others: ~30 per
 * GiB, ~2 s of CPU per GiB). A chunk transferred to a worker (postMessage with its ArrayBuffer,
 * no copy) leaves the main thread's heap at once (detached, it no longer counts there); the
 * worker frees each chunk as soon as it is written, without waiting for a collection either.
 *
 * The pool starts workers on demand, at most one per CPU; each serves any number of uploads at
 * once (messages carry the upload's id). Idle workers never keep the process alive.
 */
import os from 'node:os'
import { Worker } from 'node:worker_threads'

// CommonJS, evaluated as the worker's script: no file to locate, whatever bundles this module.
// Per upload: open the file (wx), hash each chunk, gather chunks into writes of ~1 MiB (writev,
// at most two at once), answer {written} per write, then {hex, size} on end; on abort (or a
// failed write) it stops, closes the file and answers {closed}.
const WORKER_SOURCE = `
const { MessageChannel, parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const { createHash } = require('node:crypto')
const BATCH = 1024 * 1024
// Chunks done with (written, or dropped by an abort) are freed at once, posted (so detached) to a
// closed port: left to the garbage collector, ~60 MiB of them piled up, as V8 collects for
// external memory only past 64 MiB.
const { port1, port2: nowhere } = new MessageChannel()
port1.close()
const free = (chunks) => nowhere.postMessage(null, chunks.map((chunk) => chunk.buffer))
const uploads = new Map()
const send = (id, message) => parentPort.postMessage({ id, ...message })
const settle = (id, upload) => {
  if (upload.opening) return
  if (upload.failed || upload.aborted) {
    if (upload.writing) return
    uploads.delete(id)
    const closed = () => send(id, upload.failed ? { error: upload.failed } : { closed: true })
    return upload.fd === undefined ? closed() : fs.close(upload.fd, closed)
  }
  // Full batches, or whatever there is when the disk would idle or the body has ended.
  while (upload.batch.length && upload.writing < 2 && (upload.batchBytes >= BATCH || !upload.writing || upload.ending)) {
    flush(id, upload)
  }
  if (upload.ending && !upload.batch.length && !upload.writing) {
    uploads.delete(id)
    fs.close(upload.fd, (error) => send(id, error ? { error: String(error) } : { hex: upload.hash.digest('hex'), size: upload.size }))
  }
}
const flush = (id, upload) => {
  const chunks = upload.batch
  const bytes = upload.batchBytes
  const position = upload.position
  upload.batch = []
  upload.batchBytes = 0
  upload.position += bytes
  upload.writing++
  fs.writev(upload.fd, chunks, position, (error, written) => {
    upload.writing--
    free(chunks)
    if (error || written !== bytes) upload.failed ??= String(error || 'short write')
    else send(id, { written })
    settle(id, upload)
  })
}
parentPort.on('message', ({ id, op, chunks, path }) => {
  if (op === 'open') {
    const upload = { hash: createHash('sha256'), size: 0, batch: [], batchBytes: 0, position: 0, writing: 0, opening: true }
    uploads.set(id, upload)
    return fs.open(path, 'wx', (error, fd) => {
      upload.opening = false
      if (error) upload.failed = String(error)
      else upload.fd = fd
      if (!upload.failed) send(id, { opened: true })
      settle(id, upload)
    })
  }
  const upload = uploads.get(id)
  if (op === 'chunks' && (!upload || upload.failed || upload.aborted)) return free(chunks)
  if (!upload) return
  if (op === 'chunks') {
    for (const chunk of chunks) {
      upload.hash.update(chunk)
      upload.size += chunk.length
      upload.batch.push(chunk)
      upload.batchBytes += chunk.length
    }
    if (upload.batchBytes >= BATCH) settle(id, upload)
  } else if (op === 'end') {
    upload.ending = true
    settle(id, upload)
  } else if (op === 'abort') {
    upload.aborted = true
    free(upload.batch)
    upload.batch = []
    settle(id, upload)
  }
})
`

type Reply = { id: number; opened?: true; written?: number; hex?: string; size?: number; closed?: true; error?: string }

/** Chunks are posted to the worker in messages of about this many bytes. */
const POST_BYTES = 512 * 1024

/** Bytes sent to a worker and not yet written, per upload, before `write` asks the sender to pause. */
export const INGEST_HIGH_WATER_BYTES = 4 * 1024 * 1024

/**
 * A bound on the worker's own heap, which V8 would otherwise size like the main thread's. It
 * holds little whatever the traffic (~9 MiB in use after 2 GiB: each upload's state; the chunks'
 * memory is outside it), so these are a ceiling, not a saving.
 */
const WORKER_HEAP_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 }

class IngestWorker {
  private readonly worker: Worker
  readonly uploads = new Map<number, (reply: Reply) => void>()
  broken = false

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], resourceLimits: WORKER_HEAP_LIMITS })
    this.worker.on('message', (reply: Reply) => this.uploads.get(reply.id)?.(reply))
    const fail = (error: unknown) => {
      this.broken = true
      for (const [id, deliver] of this.uploads) deliver({ id, error: `The ingest worker failed: ${String(error)}` })
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => fail(`exit ${code}`))
    this.worker.unref() // held only while it has uploads (after the listeners, which ref it)
  }

  attach(id: number, deliver: (reply: Reply) => void) {
    if (!this.uploads.size) this.worker.ref()
    this.uploads.set(id, deliver)
  }

  detach(id: number) {
    this.uploads.delete(id)
    if (!this.uploads.size) this.worker.unref()
  }

  post(message: { id: number; op: string; path?: string; chunks?: Uint8Array[] }, transfer?: ArrayBuffer[]) {
    this.worker.postMessage(message, transfer)
  }
}

const pool: IngestWorker[] = []
let nextId = 1

/** At most this many ingest workers. */
export const MAX_INGEST_WORKERS = Math.max(1, os.availableParallelism?.() ?? os.cpus().length)

const pickWorker = () => {
  for (let index = pool.length - 1; index >= 0; index--) if (pool[index].broken) pool.splice(index, 1)
  const leastBusy = pool.reduce<IngestWorker | undefined>(
    (best, worker) => (!best || worker.uploads.size < best.uploads.size ? worker : best),
    undefined,
  )
  if (leastBusy && (leastBusy.uploads.size === 0 || pool.length >= MAX_INGEST_WORKERS)) return leastBusy
  const worker = new IngestWorker()
  pool.push(worker)
  return worker
}

/** One upload's file on a worker: `write` chunks, then `end` (or `abort`). */
export type IngestFile = {
  /**
   * Hands `chunk` over: its ArrayBuffer is transferred (with the next few chunks, in one message)
   * when it holds only this chunk, as a socket's chunk does, so `chunk` is not to be used
   * afterwards. False when enough waits to be written that the sender should pause until
   * `onDrain`. Throws once the worker failed (a write, the file).
   */
  write(chunk: Uint8Array): boolean
  /** Called when a paused sender may go on. */
  onDrain: () => void
  /** Every byte written and the file closed: its size and SHA-256 (hex). */
  end(): Promise<{ size: number; hex: string }>
  /** Stops: the file is closed (not removed) when the promise resolves. */
  abort(): Promise<void>
}

/**
 * Creates the file at `path` (failing if it exists) on an ingest worker. Rejects when the
 * worker cannot be started or the file not created.
 */
export const openIngestFile = (path: string): Promise<IngestFile> =>
  new Promise((resolve, reject) => {
    const worker = pickWorker()
    const id = nextId++
    let outstanding = 0
    // Chunks are posted a few at a time: one message per ~512 KiB rather than per 64 KiB chunk.
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    const post = () => {
      if (!pending.length) return
      worker.post({ id, op: 'chunks', chunks: pending }, pending.map((chunk) => chunk.buffer as ArrayBuffer))
      pending = []
      pendingBytes = 0
    }
    let finished: ((reply: Reply) => void) | undefined
    let failure: string | undefined
    const file: IngestFile = {
      write(chunk) {
        if (failure) throw new Error(failure)
        // A Buffer from a socket owns its whole ArrayBuffer; anything else is copied into one of its own.
        const owns = chunk.buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
        const own = owns ? chunk : new Uint8Array(chunk)
        outstanding += own.byteLength
        pending.push(own)
        pendingBytes += own.byteLength
        if (pendingBytes >= POST_BYTES) post()
        return outstanding < INGEST_HIGH_WATER_BYTES
      },
      onDrain: () => undefined,
      end: () =>
        new Promise((resolveEnd, rejectEnd) => {
          finished = (reply) => (reply.hex ? resolveEnd({ size: reply.size!, hex: reply.hex }) : rejectEnd(new Error(reply.error)))
          if (failure) return finished({ id, error: failure })
          post()
          worker.post({ id, op: 'end' })
        }),
      abort: () =>
        new Promise((resolveAbort) => {
          if (failure) return resolveAbort() // over on the worker already, the file closed
          finished = () => resolveAbort()
          worker.post({ id, op: 'abort' })
        }),
    }
    worker.attach(id, (reply) => {
      if (reply.opened) return resolve(file)
      if (reply.written) {
        const before = outstanding
        outstanding -= reply.written
        if (before >= INGEST_HIGH_WATER_BYTES && outstanding < INGEST_HIGH_WATER_BYTES) file.onDrain()
        return
      }
      // Final answers: the upload is over on the worker.
      if (reply.hex || reply.closed || reply.error) {
        worker.detach(id)
        if (finished) return finished(reply)
        failure = reply.error ?? 'closed'
        reject(new Error(failure)) // before it opened; afterwards write() and end() report it
        file.onDrain() // a paused sender goes on, and learns of it
      }
    })
    worker.post({ id, op: 'open', path })
  })
