/**
 * Serve Payload's REST API without Next.js: every request goes to Payload's own
 * `handleEndpoints` (the handler behind @payloadcms/next's REST routes), so the
 * real collection operations, access control and upload handling answer.
 * On start it seeds the service user (whose API key the Django app uses) and the admin user.
 */
import http from 'node:http'
import { Readable } from 'node:stream'

import { getPayload, handleEndpoints } from 'payload'

import config, { maxUploadSeconds } from './payload.config'
import { seedUsers } from './seed'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || process.env.PAYLOAD_PORT || 3010)

const payload = await getPayload({ config })
await seedUsers(payload)

/**
 * The request body as a web stream, with backpressure. Unlike Readable.toWeb, it tolerates
 * the consumer cancelling early (an upload Payload refuses): the rest is drained, not fatal.
 */
const bodyOf = (req: http.IncomingMessage): ReadableStream<Uint8Array> => {
  let done = false
  return new ReadableStream({
    start(controller) {
      req.on('data', (chunk: Buffer) => {
        if (done) return
        controller.enqueue(new Uint8Array(chunk))
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
    },
    pull() {
      req.resume()
    },
    cancel() {
      done = true
      req.resume()
    },
  })
}

const toWebRequest = (req: http.IncomingMessage): Request => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      headers.append(name, item)
    }
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(`http://${req.headers.host || `${host}:${port}`}${req.url}`, {
    method: req.method,
    headers,
    body: hasBody ? bodyOf(req) : undefined,
    // @ts-expect-error Node's fetch needs duplex for streamed request bodies
    duplex: 'half',
  })
}

const server = http.createServer(async (req, res) => {
  try {
    const response = await handleEndpoints({ config, request: toWebRequest(req) })
    const headers: Record<string, string | string[]> = {}
    response.headers.forEach((value, name) => {
      if (name !== 'set-cookie') headers[name] = value
    })
    const cookies = response.headers.getSetCookie()
    if (cookies.length) headers['set-cookie'] = cookies
    res.writeHead(response.status, headers)
    if (response.body) {
      Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(res)
    } else {
      res.end()
    }
  } catch (error) {
    payload.logger.error(error)
    res.writeHead(500, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ errors: [{ message: 'Internal Server Error' }] }))
  }
})

// Node's default (300 s) would cut off a long upload; the longest allowed one is the limit instead.
server.requestTimeout = maxUploadSeconds * 1000

server.listen(port, host, () => {
  console.log(`PayloadCMS ready at http://${host}:${port}`)
})

const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
