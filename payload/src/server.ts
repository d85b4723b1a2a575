/**
 * Serve Payload's REST API without Next.js: every request goes to Payload's own
 * `handleEndpoints` (the handler behind @payloadcms/next's REST routes), so the
 * real collection operations, access control and upload handling answer.
 * On start it seeds the service user (whose API key the Django app uses) and the admin user.
 */
import http from 'node:http'

import { getPayload } from 'payload'

import { payloadRequestListener } from './nodeHandler'
import config, { maxUploadSeconds } from './payload.config'
import { seedUsers } from './seed'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || process.env.PAYLOAD_PORT || 3010)

const payload = await getPayload({ config })
await seedUsers(payload)

const server = http.createServer(payloadRequestListener(config, `${host}:${port}`, (error) => payload.logger.error(error)))

// Node's default (300 s) would cut off a long upload; the longest allowed one is the limit instead.
server.requestTimeout = maxUploadSeconds * 1000

server.listen(port, host, () => {
  console.log(`PayloadCMS ready at http://${host}:${port}`)
})

const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
