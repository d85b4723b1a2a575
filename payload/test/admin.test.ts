/**
 * What Payload's admin offers a person signed in with a password (an operator): the collections
 * only the pipeline writes are read-only for them (no Create New, Bulk Upload or Delete), while the
 * service's API key writes; a record's title in the admin is its title, else its audit_log_id.
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'

import { formatBytes } from '../src/plugin/components/FileSize'
import { auth, distributionFields, SAMPLE_MP4, startPayload } from './setup'

const project = startPayload({ name: 'admin' })
const { send, upsertMedia } = project

const putRecord = (auditLogId: string, extra: Record<string, unknown> = {}) =>
  send('PUT', '/api/distributionRecords/upsert', {
    body: JSON.stringify({ ...distributionFields(auditLogId), ...extra }),
    headers: auth,
  })

describe('an operator signed in to the admin reads, the service writes', () => {
  let operator: Record<string, string>
  before(async () => {
    const credentials = { email: 'operator@admin.test', password: 'operator-password-0123' }
    await project.payload.create({ collection: 'users', data: credentials })
    const login = await send('POST', '/api/users/login', { body: JSON.stringify(credentials) })
    assert.equal(login.status, 200, JSON.stringify(login.body))
    operator = { Authorization: `JWT ${login.body.token}` }
    assert.equal((await upsertMedia('dist_admin_1', SAMPLE_MP4)).status, 201)
    assert.equal((await putRecord('dist_admin_1')).status, 201)
  })

  test("the admin's permissions: read only on media and distributionRecords", async () => {
    const { status, body } = await send('GET', '/api/access', { headers: operator })
    assert.equal(status, 200)
    for (const slug of ['media', 'distributionRecords']) {
      const { create, read, update, delete: remove } = body.collections[slug]
      // Payload leaves out the operations the user may not perform.
      assert.deepEqual([create, read, update, remove], [undefined, true, undefined, undefined], slug)
    }
    assert.equal(body.collections.users.create, true) // the project's own collections keep their rules
  })

  test('writes by the operator are refused; the same by the API key succeed', async () => {
    const [record] = (await send('GET', '/api/distributionRecords?where[audit_log_id][equals]=dist_admin_1', { headers: operator }))
      .body.docs
    const [media] = (await send('GET', '/api/media?where[audit_log_id][equals]=dist_admin_1', { headers: operator })).body.docs
    const patch = JSON.stringify({ title: 'changed' })
    assert.equal((await send('PATCH', `/api/distributionRecords/${record.id}`, { body: patch, headers: operator })).status, 403)
    assert.equal((await send('DELETE', `/api/media/${media.id}`, { headers: operator })).status, 403)
    const upsert = { body: JSON.stringify(distributionFields('dist_admin_1')), headers: operator }
    assert.equal((await send('PUT', '/api/distributionRecords/upsert', upsert)).status, 403)
    assert.equal((await send('PATCH', `/api/distributionRecords/${record.id}`, { body: patch, headers: auth })).status, 200)
  })
})

describe("a record's title in the admin", () => {
  test('its title, else its audit_log_id, kept up to date on every write', async () => {
    assert.equal((await upsertMedia('dist_admin_3', SAMPLE_MP4)).status, 201)
    const untitled = await putRecord('dist_admin_3')
    assert.equal(untitled.body.doc.display_title, 'dist_admin_3')
    const titled = await putRecord('dist_admin_3', { title: 'Trailer' })
    assert.equal(titled.body.doc.display_title, 'Trailer')
    const cleared = await putRecord('dist_admin_3', { title: '' })
    assert.equal(cleared.body.doc.display_title, 'dist_admin_3')
  })
})

describe('file sizes', () => {
  test('binary units with their own labels', () => {
    assert.deepEqual(
      [0, 1023, 1024, 2.5 * 1024 ** 2, 24 * 1024 ** 2, 5 * 1024 ** 3].map(formatBytes),
      ['0 B', '1023 B', '1.0 KiB', '2.5 MiB', '24.0 MiB', '5.0 GiB'],
    )
  })
})
