/**
 * The upsert endpoint's body to a file, counted against the size limit and hashed as it comes.
 *
 * From a Node server that attached the request (nodeBody.ts) the body never becomes a web
 * stream: each chunk the socket delivers is counted and handed, without a copy, to an ingest
 * worker (ingestWorkers.ts), which hashes it and writes it; the main thread does little more
 * than read the socket. Otherwise (Next.js, handleEndpoints in tests) the web body goes through
 * a write stream, hashed on the main thread.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'

import { APIError, type PayloadRequest } from 'payload'

import { openIngestFile } from '../ingestWorkers'
import { nodeBodyOf } from '../nodeBody'
import { Refusal } from '../refusal'
import { badRequest } from './shared'

/** The write stream's buffer on the web path: the socket's chunks gathered into writes of up to 1 MiB (writev). */
const WRITE_BUFFER_BYTES = 1024 * 1024

export const tooLarge = (limit: number) => new Refusal(`File size limit has been reached (${limit} bytes).`, 413)

const incomplete = () => badRequest('The request body was incomplete (the upload was interrupted).')

/**
 * The Node request's body to a new file at `target` on an ingest worker, `meter` seeing each
 * chunk first; the request is paused while the worker has a few MiB to write. Answers the
 * worker's SHA-256 (hex). Rejects when `meter` throws, the body breaks off or the worker fails,
 * leaving the request alone: not destroyed (the answer must still get out; the caller drains
 * the rest). The file is closed, not removed, by then.
 */
const ingestNodeBody = async (message: IncomingMessage, target: string, meter: (chunk: Buffer) => void) => {
  const file = await openIngestFile(target)
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false
      const settle = (error?: unknown) => {
        if (settled) return
        settled = true
        message.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose)
        file.onDrain = () => undefined
        if (error === undefined) resolve()
        else reject(error)
      }
      function onData(chunk: Buffer) {
        try {
          meter(chunk)
          if (!file.write(chunk)) message.pause()
        } catch (error) {
          settle(error)
        }
      }
      function onEnd() {
        settle()
      }
      // Closed before its end: the client broke off, or went away before the body was read.
      function onClose() {
        settle(new Error('aborted'))
      }
      if (message.destroyed || message.readableEnded) return settle(new Error('aborted'))
      file.onDrain = () => message.resume()
      message.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose)
    })
  } catch (error) {
    await file.abort()
    throw error
  }
  return (await file.end()).hex
}

/** The web body to a new file at `target` through a write stream, `meter` seeing each chunk first; its SHA-256 (hex). */
const writeWebBody = async (body: ReadableStream<Uint8Array>, target: string, meter: (chunk: Uint8Array) => void) => {
  const hash = createHash('sha256')
  await pipeline(
    body as NodeReadableStream<Uint8Array>,
    async function* (chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        meter(chunk)
        hash.update(chunk)
        yield chunk
      }
    },
    createWriteStream(target, { flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES }),
  )
  return hash.digest('hex')
}

/**
 * Stream the body to a new file at `target`, hashing and counting as it goes: a few MiB in
 * memory whatever its size. Refuses (and removes the file) over `limit` bytes, when the body
 * breaks off or is shorter than its Content-Length. Answers its size and `sha256:<hex>`.
 */
export const receiveBody = async (req: PayloadRequest, target: string, limit: number) => {
  const message = nodeBodyOf(req)
  if (!message && !req.body) throw badRequest('The request has no body.')
  let size = 0
  const meter = (chunk: Uint8Array) => {
    size += chunk.byteLength
    if (size > limit) throw tooLarge(limit)
  }
  let hex: string
  try {
    hex = message ? await ingestNodeBody(message, target, meter) : await writeWebBody(req.body!, target, meter)
  } catch (error) {
    await rm(target, { force: true })
    if (error instanceof APIError) throw error
    throw incomplete()
  }
  const declared = req.headers.get('content-length')
  if (declared !== null && Number(declared) !== size) {
    await rm(target, { force: true })
    throw incomplete()
  }
  return { size, checksum: `sha256:${hex}` }
}
