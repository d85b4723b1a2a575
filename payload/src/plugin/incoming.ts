/**
 * The incoming folder (UpsertOptions.incomingDir): where the upsert and register endpoints keep
 * their temp files. A request removes its own; a process killed mid-upload cannot, so the plugin
 * removes its files older than the longest allowed upload at start and periodically.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type { Payload, SanitizedConfig } from 'payload'

import type { UpsertOptions } from './types'

/** One hour: Django's default publish deadline (DISTRIBUTION_PUBLISH_DEADLINE_SECONDS), the longest a publish, hence its upload, runs. */
export const DEFAULT_MAX_UPLOAD_SECONDS = 3600

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
/** <uuid>.upload, <uuid>.register and the per-attempt links <uuid>.upload.<uuid>: only the plugin's own files. */
const OWN_FILE = new RegExp(`^${UUID}\\.(upload|register)(\\.${UUID})?$`)

export const incomingDirOf = (config: Pick<SanitizedConfig, 'upload'>, options: UpsertOptions) =>
  options.incomingDir ?? config.upload?.tempFileDir ?? os.tmpdir()

/** A new temp file's path in the incoming folder (created when missing). */
export const newIncomingFile = async (config: SanitizedConfig, options: UpsertOptions, kind: 'upload' | 'register') => {
  const dir = incomingDirOf(config, options)
  await mkdir(dir, { recursive: true })
  return path.join(dir, `${randomUUID()}.${kind}`)
}

/** Removes the plugin's files in `dir` not modified for `maxAgeMs`; answers their names. */
export const sweepIncoming = async (dir: string, maxAgeMs: number, now = Date.now()) => {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  const removed: string[] = []
  for (const name of names.filter((name) => OWN_FILE.test(name))) {
    const file = path.join(dir, name)
    const stats = await stat(file).catch(() => undefined) // gone meanwhile: its request removed it
    if (stats?.isFile() && now - stats.mtimeMs > maxAgeMs) {
      await rm(file, { force: true })
      removed.push(name)
    }
  }
  return removed
}

/**
 * Sweeps now, then every quarter of `maxAgeMs` (at most every 15 minutes) on an unref'd timer, which
 * never keeps the process alive. Answers a function that stops the timer.
 */
export const sweepIncomingPeriodically = async (logger: Payload['logger'], dir: string, maxAgeMs: number) => {
  const sweep = async () => {
    try {
      const removed = await sweepIncoming(dir, maxAgeMs)
      if (removed.length) logger.info(`Removed ${removed.length} stale upload file(s) from ${dir}: ${removed.join(', ')}`)
    } catch (error) {
      logger.warn(`Could not sweep stale upload files from ${dir}: ${String(error)}`)
    }
  }
  await sweep()
  const timer = setInterval(sweep, Math.min(maxAgeMs / 4, 15 * 60_000))
  timer.unref()
  return () => clearInterval(timer)
}
