/**
 * Payload's REST handlers (`handleEndpoints`) behind a Node HTTP server: each Node request becomes
 * the web Request Payload takes, and Payload's web Response is written back. src/server.ts serves
 * it; the tests serve it in-process (test/setup.ts).
 */
import type http from 'node:http'
import { Readable } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'

import { handleEndpoints, type SanitizedConfig } from 'payload'

import { attachNodeBody } from './plugin/index'

/**
 * The request body as a web stream, with backpressure. Unlike Readable.toWeb, it tolerates
 * the consumer cancelling early (an upload Payload refuses): the rest is drained, not fatal.
 * Lazy: it starts listening to `req` on its first read (a high-water mark of 0 reads nothing
 * ahead), so an endpoint may take the Node body instead (attachNodeBody) and this one stays idle.
 * Chunks are passed on as views of Node's Buffers, not copies.
 */
const bodyOf = (req: http.IncomingMessage): ReadableStream<Uint8Array> => {
  let done = false
  let listening = false
  const listen = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    listening = true
    if (req.destroyed) {
      // Gone before this stream's first read: a client that broke off meanwhile (an error), or a
      // body someone else read to its end (empty here).
      done = true
      if (req.readableEnded) controller.close()
      else controller.error(new Error('aborted'))
      return
    }
    req.on('data', (chunk: Buffer) => {
      if (done) return
      controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
      if ((controller.desiredSize ?? 1) <= 0) req.pause()
    })
    req.on('end', () => {
      if (!done) controller.close()
      done = true
    })
    req.on('error', (error) => {
      if (!done) controller.error(error)
      done = true
    })
    // A client that breaks off mid-body: the consumer sees an error, never a short "complete" body.
    req.on('close', () => {
      if (!done && !req.complete) controller.error(new Error('aborted'))
      done = true
    })
  }
  return new ReadableStream(
    {
      pull(controller) {
        if (!listening) listen(controller)
        req.resume()
      },
      cancel() {
        done = true
        req.resume()
      },
    },
    { highWaterMark: 0 },
  )
}

/**
 * The web Request Payload's handlers take. The Node request rides along (attachNodeBody) for the
 * upsert endpoint, which writes the raw body to disk without the web stream round trip.
 */
export const toWebRequest = (req: http.IncomingMessage, defaultHost: string): Request => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      headers.append(name, item)
    }
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  const request = new Request(`http://${req.headers.host || defaultHost}${req.url}`, {
    method: req.method,
    headers,
    body: hasBody ? bodyOf(req) : undefined,
    // @ts-expect-error Node's fetch needs duplex for streamed request bodies
    duplex: 'half',
  })
  return hasBody ? attachNodeBody(request, req) : request
}

/** The request listener: Payload answers; an exception is logged by `onError` and answered 500. */
export const payloadRequestListener =
  (config: Promise<SanitizedConfig> | SanitizedConfig, defaultHost: string, onError: (error: unknown) => void) =>
  async (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      const response = await handleEndpoints({ config, request: toWebRequest(req, defaultHost) })
      const headers: Record<string, string | string[]> = {}
      response.headers.forEach((value, name) => {
        if (name !== 'set-cookie') headers[name] = value
      })
      const cookies = response.headers.getSetCookie()
      if (cookies.length) headers['set-cookie'] = cookies
      res.writeHead(response.status, headers)
      if (response.body) {
        Readable.fromWeb(response.body as NodeReadableStream).pipe(res)
      } else {
        res.end()
      }
    } catch (error) {
      onError(error)
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ errors: [{ message: 'Internal Server Error' }] }))
    }
  }
