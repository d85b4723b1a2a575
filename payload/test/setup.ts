/**
 * The setup both plugin test files share: a real Payload instance (SQLite and a media folder in a
 * temp dir) with distributionPlugin and the local-disk adapter through the cloud-storage plugin,
 * a service user with an API key, and requests through handleEndpoints, as src/server.ts hands
 * them over; `baseURL` serves the same instance over HTTP in-process, through src/server.ts's own
 * request listener (src/nodeHandler.ts). node's test runner runs each test file in its own
 * process, so each gets its own.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before } from 'node:test'
import { fileURLToPath } from 'node:url'

import { sqliteAdapter } from '@payloadcms/db-sqlite'
import { cloudStoragePlugin } from '@payloadcms/plugin-cloud-storage'
import {
  buildConfig,
  getPayload,
  handleEndpoints,
  type CollectionConfig,
  type Config,
  type Payload,
  type SanitizedConfig,
} from 'payload'

import { localDiskAdapter } from '../src/localDiskAdapter'
import { payloadRequestListener } from '../src/nodeHandler'
import { distributionPlugin, type DistributionPluginOptions } from '../src/plugin/index'

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'fixtures')
export const SAMPLE_MP4 = readFileSync(path.join(fixtures, 'sample.mp4'))
export const SAMPLE_V2_MP4 = readFileSync(path.join(fixtures, 'sample-v2.mp4'))

const API_KEY = 'plugin-test-key-0123456789abcdef'
export const auth = { Authorization: `users API-Key ${API_KEY}` }

export const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

/** The four distribution fields of `bytes` stored at <folder>/<auditLogId>.mp4. */
export const distributionFields = (auditLogId: string, bytes: Buffer = SAMPLE_MP4, folder = 'proj-7/mvp') => ({
  project_id: 'proj-7',
  audit_log_id: auditLogId,
  checksum: sha256(bytes),
  storage_path: `${folder}/${auditLogId}.mp4`,
})

/** The upsert endpoint's URL: the distribution fields as query parameters. */
export const upsertURL = (auditLogId: string, bytes: Buffer, overrides: Record<string, string> = {}) =>
  `/api/media/upsert?${new URLSearchParams({ ...distributionFields(auditLogId, bytes), ...overrides })}`

/** A temp folder for one instance: its SQLite file and, in `media/`, the local-disk storage. */
export const workFolders = (name: string) => {
  const workDir = mkdtempSync(path.join(os.tmpdir(), `distribution-${name}-test-`))
  return { workDir, mediaDir: path.join(workDir, 'media') }
}

type Options = {
  /** Names the temp folder, the secret and the service user. */
  name: string
  /** Given when the options name folders inside it. Default: a new one. */
  folders?: ReturnType<typeof workFolders>
  /** The host project's own collections besides `users`. */
  collections?: CollectionConfig[]
  plugin?: DistributionPluginOptions
  upload?: Config['upload']
}

/** Registers the file's before/after hooks that start and remove the instance; returns its helpers. */
export const startPayload = ({ name, folders = workFolders(name), collections = [], plugin, upload }: Options) => {
  const { workDir, mediaDir } = folders
  let config: SanitizedConfig
  let payload: Payload
  let server: http.Server
  let baseURL: string

  before(async () => {
    config = await buildConfig({
      secret: `${name}-test-secret`,
      collections: [{ slug: 'users', auth: { useAPIKey: true }, fields: [] }, ...collections],
      db: sqliteAdapter({ client: { url: `file:${path.join(workDir, 'payload.db')}` } }),
      plugins: [
        distributionPlugin(plugin),
        cloudStoragePlugin({
          collections: { media: { adapter: localDiskAdapter(mediaDir), disableLocalStorage: true, prefix: '' } },
        }),
      ],
      upload,
      logger: { options: { level: 'fatal' } }, // the refusals the tests provoke are expected
      telemetry: false,
      typescript: { autoGenerate: false },
    })
    payload = await getPayload({ config })
    await payload.create({
      collection: 'users',
      data: { email: `service@${name}.test`, password: 'x'.repeat(24), enableAPIKey: true, apiKey: API_KEY },
    })
    server = http.createServer(payloadRequestListener(config, 'localhost', (error) => console.error(error)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await payload.destroy()
    rmSync(workDir, { recursive: true, force: true })
  })

  /** A request as the REST server hands it to Payload; a string body is sent as JSON. */
  const send = async (method: string, url: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}) => {
    const headers = new Headers(init.headers)
    if (typeof init.body === 'string' && !headers.has('Content-Type')) headers.set('Content-Type', 'application/json')
    const request = new Request(`http://localhost${url}`, {
      method,
      body: init.body,
      headers,
      // @ts-expect-error Node's fetch needs duplex for streamed request bodies
      duplex: 'half',
    })
    const response = await handleEndpoints({ config, request })
    return { status: response.status, body: await response.json() }
  }

  /** GET a file URL (a media document's, or a link), anonymously unless headers are given. */
  const download = async (url: string, headers: Record<string, string> = {}) => {
    const response = await handleEndpoints({ config, request: new Request(new URL(url, 'http://localhost'), { headers }) })
    return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) }
  }

  const upsertMedia = (auditLogId: string, bytes: Buffer, overrides: Record<string, string> = {}, headers = auth) =>
    send('PUT', upsertURL(auditLogId, bytes, overrides), {
      body: new Uint8Array(bytes),
      headers: { ...headers, 'Content-Type': 'video/mp4' },
    })

  /** Registers the object at proj-7/direct/<auditLogId>.mp4 (putObject puts it there). */
  const registerMedia = (auditLogId: string, bytes: Buffer, overrides: Record<string, unknown> = {}, headers = auth) =>
    send('PUT', '/api/media/register', {
      body: JSON.stringify({
        ...distributionFields(auditLogId, bytes, 'proj-7/direct'),
        filesize: bytes.length,
        mimeType: 'video/mp4',
        ...overrides,
      }),
      headers,
    })

  /** What the Django side does for S3/R2: put the object at storage_path itself. */
  const putObject = (storagePath: string, bytes: Buffer) => {
    const target = path.join(mediaDir, storagePath)
    mkdirSync(path.dirname(target), { recursive: true })
    writeFileSync(target, bytes)
    return target
  }

  const findMedia = async (auditLogId: string) =>
    (await payload.find({ collection: 'media', where: { audit_log_id: { equals: auditLogId } } })).docs

  return {
    workDir,
    mediaDir,
    get payload() {
      return payload
    },
    /** The instance over HTTP, as src/server.ts serves it (the Node request body rides along). */
    get baseURL() {
      return baseURL
    },
    send,
    download,
    upsertMedia,
    registerMedia,
    putObject,
    findMedia,
  }
}
