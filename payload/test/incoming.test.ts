/**
 * Temp files a killed process left in the incoming folder: the plugin removes its own files older
 * than the longest allowed upload when Payload starts and then periodically; fresh files (an upload
 * in progress) and files that are not the plugin's stay.
 *
 * Run: npm test (node's test runner through tsx).
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, test } from 'node:test'

import { sweepIncomingPeriodically } from '../src/plugin/incoming'
import { startPayload, workFolders } from './setup'

const HOUR = 3600

/** A file in `dir` last written `ageSeconds` ago. */
const fileAged = (dir: string, name: string, ageSeconds: number) => {
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, name)
  writeFileSync(file, 'partial upload')
  const then = new Date(Date.now() - ageSeconds * 1000)
  utimesSync(file, then, then)
  return file
}

// Left before Payload starts: a killed upload from two hours ago, one from a minute ago, someone else's file.
const folders = workFolders('incoming')
const incomingDir = path.join(folders.mediaDir, '.incoming')
const stale = fileAged(incomingDir, `${randomUUID()}.upload`, 2 * HOUR)
const staleLink = fileAged(incomingDir, `${randomUUID()}.upload.${randomUUID()}`, 2 * HOUR)
const staleRegister = fileAged(incomingDir, `${randomUUID()}.register`, 2 * HOUR)
const fresh = fileAged(incomingDir, `${randomUUID()}.upload`, 60)
const foreign = fileAged(incomingDir, 'notes.txt', 2 * HOUR)

startPayload({ name: 'incoming', folders, plugin: { incomingDir, maxUploadSeconds: HOUR } })

describe('stale files in the incoming folder', () => {
  test('Payload removes those older than maxUploadSeconds at start; a fresh one and foreign files stay', () => {
    assert.deepEqual([stale, staleLink, staleRegister].map(existsSync), [false, false, false])
    assert.deepEqual([fresh, foreign].map(existsSync), [true, true])
  })

  test('and periodically: a file that grows stale later is removed by the timer', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'distribution-incoming-test-'))
    const messages: string[] = []
    const logger = { info: (message: string) => messages.push(message), warn: assert.fail } as never
    const stop = await sweepIncomingPeriodically(logger, dir, 400) // sweeps every 100 ms
    try {
      const later = fileAged(dir, `${randomUUID()}.upload`, 1) // stale, written after the first sweep
      const removed = `Removed 1 stale upload file(s) from ${dir}: ${path.basename(later)}`
      for (let waited = 0; !messages.includes(removed) && waited < 5000; waited += 50) await sleep(50)
      assert.deepEqual(messages, [removed])
      assert.equal(existsSync(later), false)
    } finally {
      stop()
    }
  })
})
