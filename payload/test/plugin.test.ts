/**
 * distributionPlugin applied to a project that already has its own `media` collection (image
 * and video uploads, an `alt` field, its own hook and access rule), on a real Payload instance
 * (SQLite and a media folder in a temp dir): the project's fields and the plugin's both work.
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { sqliteAdapter } from '@payloadcms/db-sqlite'
import { cloudStoragePlugin } from '@payloadcms/plugin-cloud-storage'
import {
  buildConfig,
  getPayload,
  handleEndpoints,
  type CollectionConfig,
  type Payload,
  type SanitizedConfig,
} from 'payload'

import { localDiskAdapter } from '../src/localDiskAdapter'
import { distributionPlugin } from '../src/plugin/index'

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'fixtures')
const SAMPLE_MP4 = readFileSync(path.join(fixtures, 'sample.mp4'))
const SAMPLE_V2_MP4 = readFileSync(path.join(fixtures, 'sample-v2.mp4'))
// A 1x1 transparent PNG, an editor's image upload.
const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
)
const API_KEY = 'plugin-test-key-0123456789abcdef'

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

const workDir = mkdtempSync(path.join(os.tmpdir(), 'distribution-plugin-test-'))
const mediaDir = path.join(workDir, 'media')

const hostConfig = () =>
  buildConfig({
    secret: 'plugin-test-secret',
    collections: [{ slug: 'users', auth: { useAPIKey: true }, fields: [] }, hostMedia],
    db: sqliteAdapter({ client: { url: `file:${path.join(workDir, 'payload.db')}` } }),
    plugins: [
      distributionPlugin(),
      cloudStoragePlugin({
        collections: { media: { adapter: localDiskAdapter(mediaDir), disableLocalStorage: true, prefix: '' } },
      }),
    ],
    logger: { options: { level: 'warn' } },
    telemetry: false,
    typescript: { autoGenerate: false },
  })

let config: SanitizedConfig
let payload: Payload

const rest = async (method: string, url: string, body?: BodyInit, key?: string) => {
  const headers = new Headers(key ? { Authorization: `users API-Key ${key}` } : {})
  if (typeof body === 'string') headers.set('Content-Type', 'application/json')
  const request = new Request(`http://localhost${url}`, { method, body, headers })
  const response = await handleEndpoints({ config, request })
  return { status: response.status, body: await response.json() }
}

const upload = (fields: Record<string, unknown>, file: Buffer, name: string, type: string, key = API_KEY) => {
  const form = new FormData()
  form.set('_payload', JSON.stringify(fields))
  form.set('file', new Blob([new Uint8Array(file)], { type }), name)
  return rest('POST', '/api/media', form, key)
}

const distributionFields = (auditLogId: string) => ({
  project_id: 'proj-7',
  audit_log_id: auditLogId,
  checksum: 'sha256:563516773e87654f53dd05706fcb232cc543755006e88474c38887a57bc2a36c',
  storage_path: `proj-7/mvp/${auditLogId}.mp4`,
})

before(async () => {
  config = await hostConfig()
  payload = await getPayload({ config })
  await payload.create({
    collection: 'users',
    data: { email: 'service@plugin.test', password: 'x'.repeat(24), enableAPIKey: true, apiKey: API_KEY },
  })
})

after(async () => {
  await payload.destroy()
  rmSync(workDir, { recursive: true, force: true })
})

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

    const download = await handleEndpoints({ config, request: new Request(`http://localhost${doc.url}`) })
    assert.equal(download.status, 200) // public read: the plugin filled in the undefined read rule
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), SAMPLE_MP4)
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

    const again = await upload({ ...fields, storage_path: 'proj-7/mvp/copy.mp4' }, SAMPLE_MP4, 'b.mp4', 'video/mp4')

    assert.equal(again.status, 400)
    assert.equal(again.body.errors[0].data.errors[0].path, 'audit_log_id')
  })

  test("the host's access rules stay", async () => {
    const { docs } = await payload.find({ collection: 'media', where: { audit_log_id: { equals: 'dist_host_1' } } })
    const answer = await rest('DELETE', `/api/media/${docs[0].id}`, undefined, API_KEY)

    assert.equal(answer.status, 403)
  })

  test('distributionRecords: public reads, writes need a user', async () => {
    const record = JSON.stringify({
      ...distributionFields('dist_host_1'),
      title: 'Launch teaser',
      public_url: 'https://media.example.com/proj-7/mvp/dist_host_1.mp4',
    })
    assert.equal((await rest('POST', '/api/distributionRecords', record)).status, 403)
    assert.equal((await rest('POST', '/api/distributionRecords', record, API_KEY)).status, 201)

    const found = await rest('GET', '/api/distributionRecords?where[audit_log_id][equals]=dist_host_1')

    assert.equal(found.status, 200)
    assert.equal(found.body.docs[0].title, 'Launch teaser')
  })
})

describe("the plugin's endpoints on a project with its own media collection", () => {
  const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  const put = async (url: string, body: BodyInit, contentType: string) => {
    const headers = { Authorization: `users API-Key ${API_KEY}`, 'Content-Type': contentType }
    const response = await handleEndpoints({ config, request: new Request(`http://localhost${url}`, { method: 'PUT', body, headers }) })
    return { status: response.status, body: await response.json() }
  }
  const upsert = (auditLogId: string, bytes: Buffer, extra?: Record<string, unknown>) => {
    const query = new URLSearchParams({ ...distributionFields(auditLogId), checksum: sha256(bytes) })
    if (extra) query.set('_payload', JSON.stringify(extra))
    return put(`/api/media/upsert?${query}`, new Uint8Array(bytes), 'video/mp4')
  }

  test("upsert: the host's required field comes in _payload; a re-publish keeps the document", async () => {
    const refused = await upsert('dist_host_up', SAMPLE_MP4) // the host requires alt
    assert.equal(refused.status, 400)
    assert.equal(refused.body.errors[0].data.errors[0].path, 'alt')

    const first = await upsert('dist_host_up', SAMPLE_MP4, { alt: 'Teaser' })
    assert.equal(first.status, 201, JSON.stringify(first.body))
    assert.deepEqual([first.body.created, first.body.doc.alt, first.body.doc.credit], [true, 'Teaser', 'Newsroom'])

    const again = await upsert('dist_host_up', SAMPLE_V2_MP4)
    assert.equal(again.status, 200, JSON.stringify(again.body))
    assert.deepEqual([again.body.created, again.body.doc.id, again.body.doc.alt], [false, first.body.doc.id, 'Teaser'])
    assert.deepEqual(readFileSync(path.join(mediaDir, 'proj-7/mvp/dist_host_up.mp4')), SAMPLE_V2_MP4)
  })

  test('register: the document for an object already stored at storage_path', async () => {
    const target = path.join(mediaDir, 'proj-7/mvp/dist_host_reg.mp4')
    mkdirSync(path.dirname(target), { recursive: true })
    writeFileSync(target, SAMPLE_MP4)
    const body = {
      ...distributionFields('dist_host_reg'),
      checksum: sha256(SAMPLE_MP4),
      filesize: SAMPLE_MP4.length,
      mimeType: 'video/mp4',
      _payload: { alt: 'Registered' },
    }

    const answer = await put('/api/media/register', JSON.stringify(body), 'application/json')

    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const doc = answer.body.doc
    assert.deepEqual(
      [doc.filename, doc.prefix, doc.filesize, doc.mimeType, doc.alt, doc.credit],
      ['dist_host_reg.mp4', 'proj-7/mvp', SAMPLE_MP4.length, 'video/mp4', 'Registered', 'Newsroom'],
    )
    const download = await handleEndpoints({ config, request: new Request(`http://localhost${doc.url}`) })
    assert.equal(download.status, 200)
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), SAMPLE_MP4)
  })

  test('records upsert', async () => {
    const record = (title: string) =>
      JSON.stringify({ ...distributionFields('dist_host_rec'), title, public_url: 'https://media.example.com/x.mp4' })
    const first = await put('/api/distributionRecords/upsert', record('One'), 'application/json')
    const second = await put('/api/distributionRecords/upsert', record('Two'), 'application/json')

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
    assert.deepEqual(collections[0].upload, { mimeTypes: ['video/mp4'] })
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
