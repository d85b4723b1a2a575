/**
 * The real REST server (src/server.ts, through start.sh where it matters) as a child process on a
 * free port: the production secret rule, start.sh's kept secret, PUBLIC_LINKS=true, what the log
 * says of expected refusals and of a clean stop, and presigned links on S3 against moto_server
 * (MOTO_SERVER, default the Django venv's; skipped when missing).
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { DEV_SECRET } from '../src/payload.config'
import { distributionFields, SAMPLE_MP4, upsertURL } from './setup'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const KEY = 'server-test-key-0123456789abcdef'
const auth = { Authorization: `users API-Key ${KEY}` }
const moto = process.env.MOTO_SERVER || path.join(root, '..', '..', 'main', '.venv', 'bin', 'moto_server')

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

/** A child process in its own process group (stopped by its id with its children), with its output. */
const run = (command: string, args: string[], env: NodeJS.ProcessEnv) => {
  const child = spawn(command, args, { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let running = true
  void exited.then(() => (running = false))
  return {
    output: () => output,
    exited,
    running: () => running,
    /** Signals the process group, as Ctrl-C (SIGINT) or a service manager (SIGTERM) does; answers the exit code. */
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (running) process.kill(-child.pid!, signal)
      return exited
    },
  }
}

/** Payload on a free port with a throwaway database, media folder and key files. */
const startServer = async (env: Record<string, string>, command = 'node', args = ['--import', 'tsx', 'src/server.ts']) => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'distribution-server-test-'))
  const port = await freePort()
  const { PAYLOAD_SECRET: _, NODE_ENV: __, ...inherited } = process.env
  const server = run(command, args, {
    ...(inherited as NodeJS.ProcessEnv),
    PORT: String(port),
    DATABASE_URI: `file:${work}/payload.db`,
    MEDIA_DIR: `${work}/media`,
    SERVICE_API_KEY_FILE: `${work}/key`,
    ADMIN_CREDENTIALS_FILE: `${work}/admin.json`,
    PAYLOADCMS_API_KEY: KEY,
    ...env,
  })
  for (let waited = 0; !server.output().includes('PayloadCMS ready at') && server.running(); waited += 100) {
    if (waited > 120_000) throw new Error(`Payload did not start:\n${server.output()}`)
    await sleep(100)
  }
  const base = `http://127.0.0.1:${port}`
  const request = async (method: string, url: string, body?: BodyInit, headers: Record<string, string> = auth) => {
    const response = await fetch(new URL(url, base), { method, body, headers })
    return { status: response.status, body: await response.json() }
  }
  const publish = async (auditLogId: string, record: Record<string, unknown> = {}) => {
    const media = await fetch(new URL(upsertURL(auditLogId, SAMPLE_MP4), base), {
      method: 'PUT',
      body: new Uint8Array(SAMPLE_MP4),
      headers: { ...auth, 'Content-Type': 'video/mp4' },
    })
    assert.equal(media.status, 201, await media.text())
    const body = JSON.stringify({ ...distributionFields(auditLogId), title: auditLogId, ...record })
    return request('PUT', '/api/distributionRecords/upsert', body, { ...auth, 'Content-Type': 'application/json' })
  }
  const stop = async (signal?: NodeJS.Signals) => {
    const code = await server.stop(signal)
    rmSync(work, { recursive: true, force: true })
    return code
  }
  return { ...server, base, request, publish, stop }
}

describe('the production secret rule', () => {
  for (const [name, secret] of [
    ['the development value', DEV_SECRET],
    ['unset', undefined],
  ] as const) {
    test(`NODE_ENV=production with PAYLOAD_SECRET ${name}: refuses to start, non-zero exit`, async () => {
      const server = await startServer({ NODE_ENV: 'production', ...(secret ? { PAYLOAD_SECRET: secret } : {}) })
      const code = await server.exited
      await server.stop()
      assert.notEqual(code, 0)
      assert.match(server.output(), new RegExp(`PAYLOAD_SECRET is ${name}: refusing to start with NODE_ENV=production`))
      assert.doesNotMatch(server.output(), /PayloadCMS ready/)
    })
  }
})

describe('start.sh without PAYLOAD_SECRET, PUBLIC_LINKS=true', () => {
  let server: Awaited<ReturnType<typeof startServer>>
  before(async () => {
    server = await startServer({ PUBLIC_LINKS: 'true' }, './start.sh', [])
  })
  after(() => server.stop())

  test('starts with the secret it keeps in data/.secret (mode 600)', () => {
    assert.match(server.output(), /PayloadCMS ready at/, server.output())
    const secretFile = path.join(root, 'data', '.secret')
    assert.equal(statSync(secretFile).mode & 0o777, 0o600)
    assert.ok(statSync(secretFile).size >= 32)
  })

  test('permanent public links: the file URL, expires_at null, served to anyone; records still need a user', async () => {
    const answer = await server.publish('dist_public_1', { url_expiry_hours: 1 })

    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const { public_url, expires_at } = answer.body.doc
    assert.equal(public_url, `${server.base}/api/media/file/dist_public_1.mp4?prefix=proj-7%2Fmvp`)
    assert.equal(expires_at, null)
    const file = await fetch(public_url)
    assert.equal(file.status, 200)
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), SAMPLE_MP4)
    assert.equal((await server.request('GET', '/api/distributionRecords', undefined, {})).status, 403)
  })
})

describe('S3 (moto): presigned links', { skip: existsSync(moto) ? false : `no moto_server at ${moto}` }, () => {
  let s3: ReturnType<typeof run>
  let s3Base: string
  let server: Awaited<ReturnType<typeof startServer>>
  before(async () => {
    const s3Port = await freePort()
    s3Base = `http://127.0.0.1:${s3Port}`
    s3 = run(moto, ['-H', '127.0.0.1', '-p', String(s3Port)], process.env)
    for (let tries = 0; !(await fetch(s3Base).then(() => true, () => false)); tries++) {
      if (tries > 300 || !s3.running()) throw new Error(`moto_server did not start:\n${s3.output()}`)
      await sleep(100)
    }
    assert.equal((await fetch(`${s3Base}/links-bucket`, { method: 'PUT' })).status, 200) // moto takes an unsigned CreateBucket
    server = await startServer({
      PAYLOAD_SECRET: 'server-test-secret',
      S3_BUCKET: 'links-bucket',
      S3_ENDPOINT: s3Base,
      S3_ACCESS_KEY_ID: 'test',
      S3_SECRET_ACCESS_KEY: 'test',
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
    })
  })
  after(async () => {
    await server?.stop()
    await s3?.stop()
  })

  test('public_url is a presigned GET that serves the object until expires_at; the object itself is private', async () => {
    const started = Date.now() / 1000
    const answer = await server.publish('dist_s3_1', { url_expiry_hours: 168 })

    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const { public_url, expires_at } = answer.body.doc
    const link = new URL(public_url)
    assert.equal(`${link.origin}${link.pathname}`, `${s3Base}/links-bucket/proj-7/mvp/dist_s3_1.mp4`)
    assert.equal(link.searchParams.get('X-Amz-Expires'), String(168 * 3600))
    assert.ok(link.searchParams.get('X-Amz-Signature'))
    assert.ok(Math.abs(Date.parse(expires_at) / 1000 - started - 168 * 3600) < 5)
    const file = await fetch(public_url)
    assert.equal(file.status, 200)
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), SAMPLE_MP4)
    assert.equal((await fetch(`${link.origin}${link.pathname}`)).status, 403)
  })

  test('over 168 h is refused (400); unpublish deletes the object, the link stops serving', async () => {
    const tooLong = await server.request(
      'PUT',
      '/api/distributionRecords/upsert',
      JSON.stringify({ ...distributionFields('dist_s3_1'), url_expiry_hours: 169 }),
      { ...auth, 'Content-Type': 'application/json' },
    )
    assert.equal(tooLong.status, 400)
    assert.match(tooLong.body.errors[0].message, /url_expiry_hours must be .* to 168 \(7 days\)/)

    const { public_url } = (await server.request('GET', '/api/distributionRecords?where[audit_log_id][equals]=dist_s3_1')).body.docs[0]
    const unpublished = await server.request('POST', '/api/distributionRecords/unpublish', JSON.stringify({ audit_log_id: 'dist_s3_1' }), {
      ...auth,
      'Content-Type': 'application/json',
    })
    assert.equal(unpublished.status, 200, JSON.stringify(unpublished.body))
    assert.equal((await fetch(public_url)).status, 404)
  })
})

/** A line Payload's logger wrote at ERROR, or a stack trace line. */
const ERROR_OR_TRACE = /ERROR|^\s+at /m

describe('the log: expected refusals at INFO without a trace, a clean stop without ERROR', () => {
  test('a body cut short, a checksum mismatch, 413, 422 and 401 are one INFO line each; Ctrl-C exits 0', async () => {
    const server = await startServer({ MAX_UPLOAD_BYTES: String(64 * 1024) })
    // A body that breaks off: headers announce more than is sent, then the connection closes.
    const url = new URL(upsertURL('dist_log_1', SAMPLE_MP4), server.base)
    const socket = net.connect(Number(url.port), url.hostname)
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(
      `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${auth.Authorization}\r\n` +
        `Content-Type: video/mp4\r\nContent-Length: ${SAMPLE_MP4.length}\r\n\r\n`,
    )
    socket.write(SAMPLE_MP4.subarray(0, 100))
    await sleep(200)
    socket.destroy()
    const mismatch = await fetch(new URL(upsertURL('dist_log_2', Buffer.from('other')), server.base), {
      method: 'PUT',
      body: new Uint8Array(SAMPLE_MP4),
      headers: { ...auth, 'Content-Type': 'video/mp4' },
    })
    assert.equal(mismatch.status, 422)
    const tooLarge = await fetch(new URL(upsertURL('dist_log_3', Buffer.alloc(65 * 1024)), server.base), {
      method: 'PUT',
      body: new Uint8Array(65 * 1024),
      headers: { ...auth, 'Content-Type': 'video/mp4' },
    })
    assert.equal(tooLarge.status, 413)
    const noMedia = await server.request('PUT', '/api/distributionRecords/upsert', JSON.stringify(distributionFields('dist_log_4')), {
      ...auth,
      'Content-Type': 'application/json',
    })
    assert.equal(noMedia.status, 422)
    const anonymous = await fetch(new URL(upsertURL('dist_log_5', SAMPLE_MP4), server.base), { method: 'PUT', body: 'x' })
    assert.equal(anonymous.status, 401)
    for (let waited = 0; !server.output().includes('upload was interrupted') && waited < 10_000; waited += 100) await sleep(100)

    assert.equal(await server.stop('SIGINT'), 0)
    const output = server.output()
    for (const message of [
      'The request body was incomplete (the upload was interrupted).',
      "checksum mismatch: the body's digest is",
      'File size limit has been reached (65536 bytes).',
      'No media document with audit_log_id dist_log_4',
      'Unauthorized',
    ]) {
      const line = output.split('\n').find((line) => line.includes(message))
      assert.match(line ?? '', /INFO/, `${message} in:\n${output}`)
    }
    assert.doesNotMatch(output, ERROR_OR_TRACE, output)
  })

  test('start.sh stopped by SIGTERM exits 0 and logs no ERROR', async () => {
    const server = await startServer({}, './start.sh', [])
    assert.equal((await server.request('GET', '/api/users/me')).status, 200)
    assert.equal(await server.stop('SIGTERM'), 0)
    assert.doesNotMatch(server.output(), ERROR_OR_TRACE, server.output())
  })
})
