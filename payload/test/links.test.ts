/**
 * Links that expire, renew and unpublish, and the closed catalog, on a real Payload instance
 * (test/setup.ts, local disk): the record's public_url is a signed link to GET /api/media/download/...
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { before, describe, test } from 'node:test'

import { signature, type MediaDoc } from '../src/plugin/links'
import { auth, distributionFields, SAMPLE_MP4, SAMPLE_V2_MP4, startPayload } from './setup'

const project = startPayload({ name: 'links' })
const { mediaDir, send, download, upsertMedia, findMedia } = project

const publish = async (auditLogId: string, extra: Record<string, unknown> = {}, bytes = SAMPLE_MP4) => {
  const media = await upsertMedia(auditLogId, bytes)
  assert.ok(media.status < 300, JSON.stringify(media.body))
  return putRecord(auditLogId, extra, bytes)
}
const putRecord = (auditLogId: string, extra: Record<string, unknown> = {}, bytes = SAMPLE_MP4) =>
  send('PUT', '/api/distributionRecords/upsert', {
    body: JSON.stringify({ ...distributionFields(auditLogId, bytes), title: auditLogId, ...extra }),
    headers: auth,
  })
const post = (action: 'link' | 'unpublish', body: Record<string, unknown>, headers: Record<string, string> = auth) =>
  send('POST', `/api/distributionRecords/${action}`, { body: JSON.stringify(body), headers })
const getRecord = async (auditLogId: string) =>
  (await send('GET', `/api/distributionRecords?where[audit_log_id][equals]=${auditLogId}`, { headers: auth })).body.docs[0]

/** The same link with other query values. */
const withQuery = (url: string, values: Record<string, string>) => {
  const link = new URL(url)
  for (const [name, value] of Object.entries(values)) link.searchParams.set(name, value)
  return link.toString()
}
const seconds = (iso: string) => Date.parse(iso) / 1000

describe('signed download links (local disk)', () => {
  test('Payload sets public_url and expires_at from url_expiry_hours, ignoring the client values; the link serves', async () => {
    const started = Date.now() / 1000
    const answer = await publish('dist_link_1', {
      url_expiry_hours: 0.5,
      public_url: 'https://evil.example.com/x.mp4',
      expires_at: '2099-01-01T00:00:00Z',
    })

    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const doc = answer.body.doc
    assert.match(doc.public_url, /^http:\/\/localhost\/api\/media\/download\/proj-7\/mvp\/dist_link_1\.mp4\?expires=(\d+)&signature=[0-9a-f]{64}$/)
    const expires = Number(new URL(doc.public_url).searchParams.get('expires'))
    assert.equal(seconds(doc.expires_at), expires)
    assert.ok(Math.abs(expires - started - 1800) < 5, `${expires - started}`)
    assert.equal(doc.url_expiry_hours, 0.5)

    const file = await download(doc.public_url) // no credentials
    assert.equal(file.status, 200)
    assert.equal(file.headers.get('content-type'), 'video/mp4')
    assert.deepEqual(file.bytes, SAMPLE_MP4)
    const part = await download(doc.public_url, { Range: 'bytes=0-99' })
    assert.equal(part.status, 206)
    assert.deepEqual(part.bytes, SAMPLE_MP4.subarray(0, 100))
  })

  test('a link answers 410 once past its expiry', async () => {
    const [media] = (await findMedia('dist_link_1')) as unknown as MediaDoc[]
    const expires = Math.floor(Date.now() / 1000) + 2
    const { public_url } = await getRecord('dist_link_1')
    const link = withQuery(public_url, {
      expires: String(expires),
      signature: signature(project.payload.secret, media.storage_path, expires, media),
    })

    assert.equal((await download(link)).status, 200)
    await sleep(expires * 1000 - Date.now() + 200)
    const gone = await download(link)
    assert.equal(gone.status, 410)
    assert.match(JSON.parse(gone.bytes.toString()).errors[0].message, /expired/)
  })

  test('an altered signature or expiry answers 403; unsigned paths do not serve', async () => {
    const { public_url } = await getRecord('dist_link_1')
    const given = new URL(public_url).searchParams
    const sig = given.get('signature')!
    const flipped = (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1)

    assert.equal((await download(withQuery(public_url, { signature: flipped }))).status, 403)
    assert.equal((await download(withQuery(public_url, { expires: String(Number(given.get('expires')) + 3600) }))).status, 403)
    assert.equal((await download(public_url.split('?')[0])).status, 403)
    // Payload's own file route needs a user
    const [media] = await findMedia('dist_link_1')
    assert.equal((await download(media.url!)).status, 403)
    assert.equal((await download(media.url!, auth)).status, 200)
  })

  test('url_expiry_hours: one minute to 168 h (else 400), default 72, kept by a re-publish', async () => {
    const tooLong = await publish('dist_link_2', { url_expiry_hours: 168.5 })
    assert.equal(tooLong.status, 400)
    assert.match(tooLong.body.errors[0].message, /url_expiry_hours must be a number from 1\/60 \(one minute\) to 168/)
    assert.equal((await putRecord('dist_link_2', { url_expiry_hours: 0.01 })).status, 400)
    assert.equal((await putRecord('dist_link_2', { url_expiry_hours: 'soon' })).status, 400)

    const byDefault = await putRecord('dist_link_2')
    assert.equal(byDefault.status, 201, JSON.stringify(byDefault.body))
    assert.ok(Math.abs(seconds(byDefault.body.doc.expires_at) - Date.now() / 1000 - 72 * 3600) < 5)

    const minute = await putRecord('dist_link_2', { url_expiry_hours: 1 / 60 })
    assert.ok(Math.abs(seconds(minute.body.doc.expires_at) - Date.now() / 1000 - 60) < 5)
    const week = await putRecord('dist_link_2', { url_expiry_hours: 168 })
    assert.ok(Math.abs(seconds(week.body.doc.expires_at) - Date.now() / 1000 - 168 * 3600) < 5)
    const again = await putRecord('dist_link_2', { url_expiry_hours: null })
    assert.equal(again.body.doc.url_expiry_hours, 168)
    assert.ok(Math.abs(seconds(again.body.doc.expires_at) - Date.now() / 1000 - 168 * 3600) < 5)
  })

  test('a record needs its media document (422)', async () => {
    const answer = await putRecord('dist_link_nofile')
    assert.equal(answer.status, 422)
    assert.match(answer.body.errors[0].message, /upload the file first/)
  })
})

describe('POST /api/distributionRecords/link (renew)', () => {
  test('a fresh link that serves; the media document is unchanged', async () => {
    const first = (await publish('dist_renew_1', { url_expiry_hours: 1 })).body.doc
    const [mediaBefore] = await findMedia('dist_renew_1')

    const renewed = await post('link', { audit_log_id: 'dist_renew_1', url_expiry_hours: 2 })

    assert.equal(renewed.status, 200, JSON.stringify(renewed.body))
    const doc = renewed.body.doc
    assert.equal(doc.id, first.id)
    assert.notEqual(doc.public_url, first.public_url)
    assert.equal(doc.url_expiry_hours, 2)
    assert.ok(Math.abs(seconds(doc.expires_at) - Date.now() / 1000 - 7200) < 5)
    const file = await download(doc.public_url)
    assert.equal(file.status, 200)
    assert.deepEqual(file.bytes, SAMPLE_MP4)
    const [mediaAfter] = await findMedia('dist_renew_1')
    assert.deepEqual(
      [mediaAfter.id, mediaAfter.filesize, mediaAfter.updatedAt],
      [mediaBefore.id, mediaBefore.filesize, mediaBefore.updatedAt],
    )

    const kept = await post('link', { audit_log_id: 'dist_renew_1' }) // no lifetime: the stored one
    assert.equal(kept.body.doc.url_expiry_hours, 2)
  })

  test('refusals: 404 unknown id, 400 bad input, 401 without a user', async () => {
    assert.equal((await post('link', { audit_log_id: 'dist_nope' })).status, 404)
    assert.equal((await post('link', {})).status, 400)
    assert.equal((await post('link', { audit_log_id: 'dist_renew_1', url_expiry_hours: 200 })).status, 400)
    assert.equal((await post('link', { audit_log_id: 'dist_renew_1' }, {})).status, 401)
  })
})

describe('POST /api/distributionRecords/unpublish', () => {
  const earlier: string[] = []
  before(async () => {
    earlier.push((await publish('dist_unpub_1', { url_expiry_hours: 1 })).body.doc.public_url)
    earlier.push((await post('link', { audit_log_id: 'dist_unpub_1', url_expiry_hours: 3 })).body.doc.public_url)
    for (const link of earlier) assert.equal((await download(link)).status, 200)
  })

  test('deletes the media document and its file, every earlier link refused, the record kept as a tombstone', async () => {
    const stored = path.join(mediaDir, 'proj-7/mvp/dist_unpub_1.mp4')
    assert.ok(existsSync(stored))

    const answer = await post('unpublish', { audit_log_id: 'dist_unpub_1', reason: 'rights withdrawn' })

    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    const doc = answer.body.doc
    assert.deepEqual([doc.public_url, doc.expires_at, doc.unpublish_reason], [null, null, 'rights withdrawn'])
    assert.ok(Math.abs(seconds(doc.unpublished_at) - Date.now() / 1000) < 5)
    assert.equal(existsSync(stored), false)
    assert.deepEqual(await findMedia('dist_unpub_1'), [])
    for (const link of earlier) assert.equal((await download(link)).status, 410)

    const tombstone = await getRecord('dist_unpub_1')
    assert.deepEqual(
      [tombstone.id, tombstone.public_url, tombstone.unpublished_at, tombstone.unpublish_reason],
      [doc.id, null, doc.unpublished_at, 'rights withdrawn'],
    )

    const second = await post('unpublish', { audit_log_id: 'dist_unpub_1', reason: 'again' })
    assert.equal(second.status, 200)
    assert.deepEqual(second.body.doc, doc)
    assert.equal((await post('link', { audit_log_id: 'dist_unpub_1' })).status, 409)
  })

  test('a publish again clears the tombstone; links from before the unpublish stay refused', async () => {
    const again = await publish('dist_unpub_1', {}, SAMPLE_V2_MP4)

    assert.equal(again.status, 200, JSON.stringify(again.body))
    const doc = again.body.doc
    assert.deepEqual([doc.unpublished_at, doc.unpublish_reason], [null, null])
    assert.equal(doc.url_expiry_hours, 3) // the record's setting
    const file = await download(doc.public_url)
    assert.equal(file.status, 200)
    assert.deepEqual(file.bytes, SAMPLE_V2_MP4)
    assert.deepEqual(readFileSync(path.join(mediaDir, 'proj-7/mvp/dist_unpub_1.mp4')), SAMPLE_V2_MP4)
    for (const link of earlier) assert.equal((await download(link)).status, 403) // signed for the deleted document
  })

  test('refusals: 404 unknown id, 401 without a user', async () => {
    assert.equal((await post('unpublish', { audit_log_id: 'dist_nope' })).status, 404)
    assert.equal((await post('unpublish', { audit_log_id: 'dist_unpub_1' }, {})).status, 401)
  })
})

describe('closed catalog', () => {
  test('anonymous reads of records and media answer 403; a user reads them', async () => {
    assert.equal((await send('GET', '/api/distributionRecords')).status, 403)
    assert.equal((await send('GET', '/api/media')).status, 403)
    const records = await send('GET', '/api/distributionRecords', { headers: auth })
    assert.equal(records.status, 200)
    assert.ok(records.body.totalDocs > 0)
    assert.equal((await send('GET', '/api/media', { headers: auth })).status, 200)
  })
})
