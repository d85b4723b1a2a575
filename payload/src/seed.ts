/**
 * Create (idempotently) the two local users:
 * - the service user the Django app authenticates as, with an API key: PAYLOADCMS_API_KEY when
 *   set, else the one saved in .service-api-key, else a new random one; saved to
 *   .service-api-key (or SERVICE_API_KEY_FILE) for `scripts/dev` to pick up;
 * - an admin user for people in Payload's admin (`start.sh --admin`): PAYLOAD_ADMIN_EMAIL
 *   (default admin@distribution.local) with PAYLOAD_ADMIN_PASSWORD, else the password saved in
 *   .admin-credentials, else a new random one; saved as JSON to .admin-credentials (or
 *   ADMIN_CREDENTIALS_FILE).
 * Both files are git-ignored and written with mode 0600. Secrets are never printed:
 * scripts/dev keeps Payload's output in a log.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import type { Payload, RequiredDataFromCollectionSlug } from 'payload'

const env = process.env
// start.sh runs from payload/.
const keyFile = path.resolve(env.SERVICE_API_KEY_FILE || '.service-api-key')
const credentialsFile = path.resolve(env.ADMIN_CREDENTIALS_FILE || '.admin-credentials')
const serviceEmail = env.PAYLOAD_SERVICE_EMAIL || 'service@distribution.local'
const adminEmail = env.PAYLOAD_ADMIN_EMAIL || 'admin@distribution.local'

const randomSecret = () => randomBytes(24).toString('hex')

const saved = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim() : '')

const savedAdminPassword = () => {
  try {
    return (JSON.parse(saved(credentialsFile) || '{}').password as string) || ''
  } catch {
    return ''
  }
}

const upsertUser = async (payload: Payload, data: RequiredDataFromCollectionSlug<'users'>) => {
  const { docs } = await payload.find({ collection: 'users', where: { email: { equals: data.email } }, limit: 1 })
  if (docs.length) {
    await payload.update({ collection: 'users', id: docs[0].id, data })
  } else {
    await payload.create({ collection: 'users', data })
  }
}

export const seedUsers = async (payload: Payload) => {
  const apiKey = env.PAYLOADCMS_API_KEY || saved(keyFile) || randomSecret()
  await upsertUser(payload, { email: serviceEmail, enableAPIKey: true, apiKey, password: randomSecret() })
  writeFileSync(keyFile, apiKey + '\n', { mode: 0o600 })
  payload.logger.info(`Service user ${serviceEmail} ready; API key saved to ${keyFile}`)

  const password = env.PAYLOAD_ADMIN_PASSWORD || savedAdminPassword() || randomSecret()
  await upsertUser(payload, { email: adminEmail, password })
  writeFileSync(credentialsFile, JSON.stringify({ email: adminEmail, password }, null, 2) + '\n', { mode: 0o600 })
  payload.logger.info(`Admin user ${adminEmail} ready; credentials saved to ${credentialsFile}`)
}
