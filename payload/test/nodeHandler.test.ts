/**
 * src/nodeHandler.ts's toWebRequest, on a plain Node HTTP server (no Payload): the Node request
 * rides along for the upsert endpoint (nodeBodyOf), and the web body is lazy, so whichever of the
 * two a handler reads gets the whole body.
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'

import { toWebRequest } from '../src/nodeHandler'
import { nodeBodyOf } from '../src/plugin/index'

const BODY = Buffer.alloc(3 * 1024 * 1024 + 17, 'abcdefgh') // several of the socket's chunks

describe('toWebRequest', () => {
  let server: http.Server
  let base: string
  const errors: string[] = []

  before(async () => {
    server = http.createServer(async (req, res) => {
      const request = toWebRequest(req, 'localhost')
      try {
        if (req.url === '/attached') {
          res.end(String(nodeBodyOf(request) === req))
        } else if (req.url === '/node') {
          // Let the web body's stream exist a while unread: it must not take any of the body.
          await new Promise((resolve) => setTimeout(resolve, 50))
          const chunks: Buffer[] = []
          for await (const chunk of nodeBodyOf(request)!) chunks.push(chunk)
          res.end(String(Buffer.concat(chunks).equals(BODY)))
        } else if (req.url === '/web') {
          res.end(String(Buffer.from(await request.arrayBuffer()).equals(BODY)))
        } else if (req.url === '/late') {
          // The client is gone before the body is read: the web body errors instead of hanging.
          await new Promise((resolve) => req.once('close', resolve))
          await request.arrayBuffer()
          res.end('read')
        }
      } catch (error) {
        errors.push(`${req.url}: ${(error as Error).message}`)
        res.destroy()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const put = async (path: string, body?: BodyInit) => (await fetch(base + path, { method: 'PUT', body })).text()

  test('a request with a body carries its Node request (nodeBodyOf); a GET has none', async () => {
    assert.equal(await put('/attached', new Uint8Array(1)), 'true')
    assert.equal(await (await fetch(base + '/attached')).text(), 'false')
  })

  test('the Node body, read directly, is all there: the unread web body took nothing', async () => {
    assert.equal(await put('/node', new Uint8Array(BODY)), 'true')
  })

  test('the web body still reads the whole body', async () => {
    assert.equal(await put('/web', new Uint8Array(BODY)), 'true')
  })

  test('a client gone before the web body is read: reading it fails, it does not hang', async () => {
    const socket = net.connect(Number(new URL(base).port), '127.0.0.1')
    await once(socket, 'connect')
    socket.write(`PUT /late HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(10)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.destroy()
    for (let waited = 0; !errors.length && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.deepEqual(errors, ['/late: aborted'])
  })
})
