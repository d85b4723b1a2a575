/**
 * A storage adapter for @payloadcms/plugin-cloud-storage that writes to a local folder.
 *
 * Payload's built-in local storage keeps every file flat in one folder; going through the
 * cloud-storage plugin instead gives local disk the same `prefix` + filename keys as S3/R2,
 * so a file lands at <MEDIA_DIR>/<project_id>/<storage_prefix>/<audit_log_id>.mp4.
 *
 * Ingest without copying: a file Payload hands over as a temp file on the media folder's
 * filesystem (the upsert endpoint receives into <MEDIA_DIR>/.incoming/) is hard-linked into
 * place, then renamed over the target (atomic: a reader sees the old or the new file, never a
 * partial one). Across filesystems (EXDEV) it is copied. The temp file itself stays for Payload
 * (or the endpoint) to remove, as with a copy. Folders whose name starts with a dot (.incoming)
 * are never served nor written by key.
 */
import { createReadStream } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { copyFile, link, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'

import type { Adapter } from '@payloadcms/plugin-cloud-storage/types'
import { getStorageFilePath } from '@payloadcms/plugin-cloud-storage/utilities'
import { getRangeRequestInfo } from 'payload/internal'

export const localDiskAdapter =
  (mediaDir: string): Adapter =>
  ({ collection, prefix: collectionPrefix }) => {
    const resolve = (storageFilePath: string) => {
      const target = path.resolve(mediaDir, storageFilePath)
      if (!target.startsWith(path.resolve(mediaDir) + path.sep)) {
        throw new Error('Storage path escapes the media folder')
      }
      if (path.relative(mediaDir, path.dirname(target)).split(path.sep).some((segment) => segment.startsWith('.'))) {
        throw new Error('Storage path is in a hidden folder')
      }
      return target
    }
    return {
      name: 'local-disk',
      async handleUpload({ file, storageFilePath }) {
        const target = resolve(storageFilePath)
        await mkdir(path.dirname(target), { recursive: true })
        if (!file.tempFilePath) {
          await writeFile(target, file.buffer)
          return
        }
        const staged = `${target}.${randomUUID()}.partial`
        try {
          try {
            await link(file.tempFilePath, staged)
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code
            // EXDEV: another filesystem; EPERM/ENOTSUP: one without hard links.
            if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw error
            await copyFile(file.tempFilePath, staged)
          }
          await rename(staged, target)
        } catch (error) {
          await rm(staged, { force: true })
          throw error
        }
      },
      async handleDelete({ storageFilePath }) {
        await rm(resolve(storageFilePath), { force: true })
      },
      async staticHandler(req, { doc, params: { clientUploadContext, filename } }) {
        // clientUploadContext: a read before the document exists (the register endpoint's probe).
        const storageFilePath = await getStorageFilePath({ clientUploadContext, collection, collectionPrefix, doc, filename, req })
        let target: string
        try {
          target = resolve(storageFilePath)
        } catch {
          return new Response(null, { status: 404 })
        }
        const info = await stat(target).catch(() => null)
        if (!info?.isFile()) {
          return new Response(null, { status: 404 })
        }
        // Byte ranges (video players seek with them), like @payloadcms/storage-s3's handler.
        const range = getRangeRequestInfo({ fileSize: info.size, rangeHeader: req.headers.get('range') })
        const headers = new Headers(range.headers)
        if (range.type === 'invalid') {
          return new Response(null, { headers, status: range.status })
        }
        headers.set('Content-Type', 'video/mp4') // the only type the media collection accepts
        const stream =
          range.type === 'partial'
            ? createReadStream(target, { start: range.rangeStart, end: range.rangeEnd })
            : createReadStream(target)
        return new Response(Readable.toWeb(stream) as ReadableStream, { headers, status: range.status })
      },
    }
  }
