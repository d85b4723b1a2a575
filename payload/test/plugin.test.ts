/**
 * distributionPlugin applied to a project that already has its own `media` collection (image
 * and video uploads, an `alt` field, its own hook and access rule), on a real Payload instance
 * (test/setup.ts): the project's fields and the plugin's both work.
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, test } from 'node:test'

import type { CollectionConfig } from 'payload'

import { distributionPlugin } from '../src/plugin/index'
import { auth, distributionFields, SAMPLE_MP4, SAMPLE_V2_MP4, startPayload } from './setup'

// A 1x1 transparent PNG, an editor's image upload.
const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
)

/** The host project's own media collection, before the plugin. */
const hostMedia: CollectionConfig = {
  slug: 'media',
  upload: { mimeTypes: ['image/*', 'video/mp4'] },
  access: { delete: () => false }, // the host never deletes media
  hooks: {
    beforeChange: [
      ({ data }) => {
        data.credit = data.credit || 'Newsroom'
        return data
      },
    ],
  },
  fields: [
    { name: 'alt', type: 'text', required: true },
    { name: 'credit', type: 'text' },
  ],
}

const project = startPayload({ name: 'plugin', collections: [hostMedia] })
const { mediaDir, send, download, upsertMedia, registerMedia, putObject } = project

const upload = (fields: Record<string, unknown>, file: Buffer, name: string, type: string) => {
  const form = new FormData()
  form.set('_payload', JSON.stringify(fields))
  form.set('file', new Blob([new Uint8Array(file)], { type }), name)
  return send('POST', '/api/media', { body: form, headers: auth })
}

describe('distributionPlugin on a project with its own media collection', () => {
  test('a distribution upload carries both sets of fields and lands at the deterministic path', async () => {
    const fields = { alt: 'Launch teaser', ...distributionFields('dist_host_1') }
    const answer = await upload(fields, SAMPLE_MP4, 'cut.mp4', 'video/mp4')

    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const doc = answer.body.doc
    assert.equal(doc.alt, 'Launch teaser')
    assert.equal(doc.credit, 'Newsroom') // the host's own hook still runs
    assert.deepEqual(
      [doc.project_id, doc.audit_log_id, doc.storage_path, doc.filename, doc.prefix, doc.mimeType],
      ['proj-7', 'dist_host_1', 'proj-7/mvp/dist_host_1.mp4', 'dist_host_1.mp4', 'proj-7/mvp', 'video/mp4'],
    )
    assert.deepEqual(readFileSync(path.join(mediaDir, 'proj-7/mvp/dist_host_1.mp4')), SAMPLE_MP4)

    // the plugin filled in the undefined read rule: signed-in users only (links are signed instead)
    assert.equal((await download(doc.url)).status, 403)
    const file = await download(doc.url, auth)
    assert.equal(file.status, 200)
    assert.deepEqual(file.bytes, SAMPLE_MP4)
  })

  test("an editor's image upload needs only the host's fields", async () => {
    const answer = await upload({ alt: 'Team photo', credit: 'Jane' }, PIXEL_PNG, 'team.png', 'image/png')

    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const doc = answer.body.doc
    assert.deepEqual([doc.alt, doc.credit, doc.filename, doc.mimeType], ['Team photo', 'Jane', 'team.png', 'image/png'])
    assert.equal(doc.audit_log_id ?? null, null)
    assert.ok(existsSync(path.join(mediaDir, 'team.png')))
  })

  test("the host's required field is still enforced on distribution uploads", async () => {
    const answer = await upload(distributionFields('dist_host_2'), SAMPLE_MP4, 'cut.mp4', 'video/mp4')

    assert.equal(answer.status, 400)
    assert.deepEqual(answer.body.errors[0].data.errors.map((error: { path: string }) => error.path), ['alt'])
  })

  test('the distribution fields go together', async () => {
    const { checksum: _, ...withoutChecksum } = distributionFields('dist_host_3')
    const answer = await upload({ alt: 'x', ...withoutChecksum }, SAMPLE_MP4, 'cut.mp4', 'video/mp4')

    assert.equal(answer.status, 400)
    const [error] = answer.body.errors[0].data.errors
    assert.equal(error.path, 'checksum')
    assert.match(error.message, /Required for a distribution upload/)
  })

  test('audit_log_id is unique', async () => {
    const fields = { alt: 'x', ...distributionFields('dist_host_4') }
    assert.equal((await upload(fields, SAMPLE_MP4, 'a.mp4', 'video/mp4')).status, 201)

    // In another folder: a storage_path ends with /<audit_log_id>.mp4, so the file name is taken too.
    const again = await upload({ ...fields, storage_path: 'proj-7/copy/dist_host_4.mp4' }, SAMPLE_MP4, 'b.mp4', 'video/mp4')

    assert.equal(again.status, 400)
    assert.match(again.body.errors[0].message, /invalid: (filename|audit_log_id)/)
    assert.equal((await project.findMedia('dist_host_4')).length, 1)
  })

  test("the host's access rules stay", async () => {
    const [doc] = await project.findMedia('dist_host_1')
    const answer = await send('DELETE', `/api/media/${doc.id}`, { headers: auth })

    assert.equal(answer.status, 403)
  })

  test('distributionRecords: reads and writes need a user; Payload sets the link', async () => {
    const record = JSON.stringify({
      ...distributionFields('dist_host_1'),
      title: 'Launch teaser',
      public_url: 'https://media.example.com/proj-7/mvp/dist_host_1.mp4',
    })
    assert.equal((await send('POST', '/api/distributionRecords', { body: record })).status, 403)
    const created = await send('POST', '/api/distributionRecords', { body: record, headers: auth })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    assert.match(created.body.doc.public_url, /^http:\/\/localhost\/api\/media\/download\/proj-7\/mvp\/dist_host_1\.mp4\?expires=\d+&signature=[0-9a-f]{64}$/)

    const query = '/api/distributionRecords?where[audit_log_id][equals]=dist_host_1'
    assert.equal((await send('GET', query)).status, 403)
    const found = await send('GET', query, { headers: auth })

    assert.equal(found.status, 200)
    assert.equal(found.body.docs[0].title, 'Launch teaser')
    assert.equal((await download(found.body.docs[0].public_url)).status, 200)
  })
})

describe("the plugin's endpoints on a project with its own media collection", () => {
  test("upsert: the host's required field comes in _payload; a re-publish keeps the document", async () => {
    const refused = await upsertMedia('dist_host_up', SAMPLE_MP4) // the host requires alt
    assert.equal(refused.status, 400)
    assert.equal(refused.body.errors[0].data.errors[0].path, 'alt')

    const first = await upsertMedia('dist_host_up', SAMPLE_MP4, { _payload: JSON.stringify({ alt: 'Teaser' }) })
    assert.equal(first.status, 201, JSON.stringify(first.body))
    assert.deepEqual([first.body.created, first.body.doc.alt, first.body.doc.credit], [true, 'Teaser', 'Newsroom'])

    const again = await upsertMedia('dist_host_up', SAMPLE_V2_MP4)
    assert.equal(again.status, 200, JSON.stringify(again.body))
    assert.deepEqual([again.body.created, again.body.doc.id, again.body.doc.alt], [false, first.body.doc.id, 'Teaser'])
    assert.deepEqual(readFileSync(path.join(mediaDir, 'proj-7/mvp/dist_host_up.mp4')), SAMPLE_V2_MP4)
  })

  test('register: the document for an object already stored at storage_path', async () => {
    putObject('proj-7/direct/dist_host_reg.mp4', SAMPLE_MP4)

    const answer = await registerMedia('dist_host_reg', SAMPLE_MP4, { _payload: { alt: 'Registered' } })

    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const doc = answer.body.doc
    assert.deepEqual(
      [doc.filename, doc.prefix, doc.filesize, doc.mimeType, doc.alt, doc.credit],
      ['dist_host_reg.mp4', 'proj-7/direct', SAMPLE_MP4.length, 'video/mp4', 'Registered', 'Newsroom'],
    )
    const file = await download(doc.url, auth)
    assert.equal(file.status, 200)
    assert.deepEqual(file.bytes, SAMPLE_MP4)
  })

  test('records upsert', async () => {
    // the record of the media document the upsert test made
    const record = (title: string) => JSON.stringify({ ...distributionFields('dist_host_up'), title })
    const put = (body: string) => send('PUT', '/api/distributionRecords/upsert', { body, headers: auth })
    const first = await put(record('One'))
    const second = await put(record('Two'))

    assert.deepEqual([first.status, first.body.created, second.status, second.body.created], [201, true, 200, false])
    assert.equal(second.body.doc.id, first.body.doc.id)
    assert.equal(second.body.doc.title, 'Two')
  })
})

describe('distributionPlugin options and refusals', () => {
  const apply = (collections: CollectionConfig[], options = {}) =>
    distributionPlugin(options)({ collections, secret: 's', db: {} as never }) as { collections: CollectionConfig[] }

  test('adds an MP4 media collection when the project has none', () => {
    const { collections } = apply([])
    assert.deepEqual(collections.map((collection) => collection.slug), ['media', 'distributionRecords'])
    assert.deepEqual(collections[0].upload, { mimeTypes: ['video/mp4'], bulkUpload: false })
  })

  test('extends the collection named by mediaSlug', () => {
    const { collections } = apply([{ slug: 'videos', upload: true, fields: [{ name: 'alt', type: 'text' }] }], {
      mediaSlug: 'videos',
    })
    const names = collections[0].fields.map((field) => ('name' in field ? field.name : ''))
    assert.deepEqual(names, ['alt', 'project_id', 'audit_log_id', 'checksum', 'storage_path', 'videoPreview'])
  })

  test('refuses a non-upload collection and clashing field names', () => {
    assert.throws(() => apply([{ slug: 'media', fields: [] }]), /must be an upload collection/)
    assert.throws(
      () => apply([{ slug: 'media', upload: true, fields: [{ name: 'checksum', type: 'text' }] }]),
      /already has field\(s\) named checksum/,
    )
  })

  test('disabled leaves the config alone', () => {
    assert.deepEqual(apply([], { disabled: true }).collections, [])
  })
})
