/**
 * The raw request body, beside the web Request: a side channel from a Node HTTP server to the
 * upsert endpoint.
 *
 * Payload hands an endpoint the web Request it was given (its PayloadRequest is that object), so
 * a body arrives as a web ReadableStream. For a large upload that costs: every chunk of the
 * socket passes through the web stream's queue and promises, and back into a Node stream to be
 * written. A Node server that builds the Request from an `http.IncomingMessage` (src/server.ts)
 * can attach the message with `attachNodeBody`; the upsert endpoint then takes the socket's
 * Buffers directly (`nodeBodyOf`) and hands them to a worker that hashes and writes them
 * (endpoints/receiveBody.ts).
 *
 * The contract for the server: the Request's own body must stay unread until someone reads it
 * (a lazy stream that starts listening to the message on its first pull), so that the endpoint
 * taking the Node body and the web body never both consume the message. Without an attached
 * body (Next.js route handlers, tests calling handleEndpoints) the endpoint reads `request.body`.
 */
import type { IncomingMessage } from 'node:http'

import type { PayloadRequest } from 'payload'

/** Symbol.for: the same key when the plugin is loaded twice (a bundler's copy and the server's). */
const NODE_BODY = Symbol.for('@distribution/payload-plugin.nodeBody')

type WithNodeBody = Request & { [NODE_BODY]?: IncomingMessage }

/** Attach the Node request whose body `request`'s (lazy) body stream would read. */
export const attachNodeBody = (request: Request, message: IncomingMessage) => {
  Object.defineProperty(request, NODE_BODY, { value: message, enumerable: false })
  return request
}

/** The Node request attached to `request`, if its server attached one. */
export const nodeBodyOf = (request: Request | PayloadRequest): IncomingMessage | undefined =>
  (request as WithNodeBody)[NODE_BODY]
