/**
 * One path rule on both sides: the storage-path folders Payload accepts are exactly those the Django
 * side accepts, checked against the same cases (tests/fixtures/path-segments.json, which the Django
 * tests read too). Each case is a project_id or storage_prefix, so it is tried in both places of
 * <project_id>/<storage_prefix>/<audit_log_id>.mp4, by the rule itself and through the upsert
 * endpoint and Payload's own REST create.
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { isStoragePath } from '../src/plugin/storagePath'
import { auth, distributionFields, SAMPLE_MP4, startPayload } from './setup'

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'fixtures', 'path-segments.json')
const cases = JSON.parse(readFileSync(fixture, 'utf8')) as {
  accepted: string[]
  refused: string[]
  normalised: Record<string, string>
}
// Django sends the normalised value, never the key: Payload refuses the key as it is.
const accepted = [...cases.accepted, ...Object.values(cases.normalised)]
const refused = [...cases.refused, ...Object.keys(cases.normalised)]

/** The storage paths with `value` as the project_id, and as the storage_prefix. */
const pathsWith = (value: string, auditLogId: string) => [`${value}/${auditLogId}.mp4`, `proj-7/${value}/${auditLogId}.mp4`]

const { send, upsertMedia, findMedia } = startPayload({ name: 'storage-path' })

describe('the storage-path rule, from the shared cases', () => {
  test('the cases are there (both suites read the same file)', () => {
    assert.ok(cases.accepted.length > 5 && cases.refused.length > 5, fixture)
  })

  test('accepts every accepted case and refuses every refused one, as project_id and as storage_prefix', () => {
    for (const value of accepted) {
      for (const storagePath of pathsWith(value, 'dist_1')) assert.equal(isStoragePath(storagePath, 'dist_1'), true, storagePath)
    }
    for (const value of refused) {
      for (const storagePath of pathsWith(value, 'dist_1')) assert.equal(isStoragePath(storagePath, 'dist_1'), false, storagePath)
    }
  })

  test('the file name is <audit_log_id>.mp4 after at least one folder', () => {
    for (const storagePath of ['dist_1.mp4', 'proj-7/other.mp4', 'proj-7/dist_1.mp4/', '/proj-7/dist_1.mp4', 'proj-7//dist_1.mp4']) {
      assert.equal(isStoragePath(storagePath, 'dist_1'), false, storagePath)
    }
  })

  test('PUT /api/media/upsert: 400 for every refused case, nothing written; accepted cases stored', async () => {
    for (const [index, value] of refused.entries()) {
      const auditLogId = `dist_refused_${index}`
      for (const storagePath of pathsWith(value, auditLogId)) {
        const answer = await upsertMedia(auditLogId, SAMPLE_MP4, { storage_path: storagePath })
        assert.equal(answer.status, 400, `${storagePath}: ${JSON.stringify(answer.body)}`)
      }
      assert.deepEqual(await findMedia(auditLogId), [])
    }
    for (const [index, value] of cases.accepted.entries()) {
      const auditLogId = `dist_accepted_${index}`
      const [, storagePath] = pathsWith(value, auditLogId)
      const answer = await upsertMedia(auditLogId, SAMPLE_MP4, { storage_path: storagePath })
      assert.equal(answer.status, 201, `${storagePath}: ${JSON.stringify(answer.body)}`)
      assert.equal(answer.body.doc.storage_path, storagePath)
    }
  })

  test("Payload's own REST create (POST /api/media) applies the same rule to storage_path", async () => {
    const create = (storagePath: string) => {
      const form = new FormData()
      form.append('file', new Blob([new Uint8Array(SAMPLE_MP4)], { type: 'video/mp4' }), 'upload.mp4')
      form.append('_payload', JSON.stringify({ ...distributionFields('dist_rest_1'), storage_path: storagePath }))
      return send('POST', '/api/media', { body: form, headers: auth })
    }
    for (const value of refused) {
      assert.equal((await create(`proj-7/${value}/dist_rest_1.mp4`)).status, 400, value)
    }
    assert.equal((await create('proj-7/v1.2/dist_rest_1.mp4')).status, 201)
  })
})
