/**
 * A storage adapter for @payloadcms/plugin-cloud-storage that writes to a local folder.
 *
 * Payload's built-in local storage keeps every file flat in one folder; going through the
 * cloud-storage plugin instead gives local disk the same `prefix` + filename keys as S3/R2,
 * so a file lands at <MEDIA_DIR>/<project_id>/<storage_prefix>/<audit_log_id>.mp4.
 */
import { createReadStream } from 'node:fs'
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises'
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
      return target
    }
    return {
      name: 'local-disk',
      async handleUpload({ file, storageFilePath }) {
        const target = resolve(storageFilePath)
        await mkdir(path.dirname(target), { recursive: true })
        if (file.tempFilePath) {
          await copyFile(file.tempFilePath, target)
        } else {
          await writeFile(target, file.buffer)
        }
      },
      async handleDelete({ storageFilePath }) {
        await rm(resolve(storageFilePath), { force: true })
      },
      async staticHandler(req, { doc, params: { filename } }) {
        const storageFilePath = await getStorageFilePath({ collection, collectionPrefix, doc, filename, req })
        const target = resolve(storageFilePath)
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
