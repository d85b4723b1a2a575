/**
 * Create (idempotently) the service user the Django app authenticates as, with an API key.
 * The key is PAYLOADCMS_API_KEY when set, else the one saved in .service-api-key, else a
 * new random one; it is saved to .service-api-key (or SERVICE_API_KEY_FILE, mode 0600) for
 * `scripts/dev` to pick up. It is never printed: scripts/dev keeps Payload's output in a log.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import type { Payload } from 'payload'

const keyFile = path.resolve(
  process.env.SERVICE_API_KEY_FILE || path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.service-api-key'),
)
const email = process.env.PAYLOAD_SERVICE_EMAIL || 'service@distribution.local'

const chooseKey = () =>
  process.env.PAYLOADCMS_API_KEY ||
  (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '') ||
  randomBytes(24).toString('hex')

export const seedServiceUser = async (payload: Payload) => {
  const apiKey = chooseKey()
  const data = { email, enableAPIKey: true, apiKey, password: randomBytes(24).toString('hex') }
  const { docs } = await payload.find({ collection: 'users', where: { email: { equals: email } }, limit: 1 })
  if (docs.length) {
    await payload.update({ collection: 'users', id: docs[0].id, data })
  } else {
    await payload.create({ collection: 'users', data })
  }
  writeFileSync(keyFile, apiKey + '\n', { mode: 0o600 })
  payload.logger.info(`Service user ${email} ready; API key saved to ${keyFile}`)
}
