/**
 * PayloadCMS project of the distribution app: `users` (API keys) plus what distributionPlugin
 * adds, `media` (the MP4s, stored at <project_id>/<storage_prefix>/<audit_log_id>.mp4) and
 * `distributionRecords`.
 *
 * Storage is local disk (MEDIA_DIR) unless S3_BUCKET is set, then S3/Cloudflare R2.
 * The database is SQLite (DATABASE_URI=file:...) unless DATABASE_URI is a postgres URL.
 */
import os from 'node:os'
import path from 'node:path'

import { postgresAdapter } from '@payloadcms/db-postgres'
import { sqliteAdapter } from '@payloadcms/db-sqlite'
import { cloudStoragePlugin } from '@payloadcms/plugin-cloud-storage'
import { s3Storage } from '@payloadcms/storage-s3'
import { buildConfig, type CollectionConfig } from 'payload'

import { localDiskAdapter } from './localDiskAdapter'
import { distributionPlugin } from './plugin/index'

// start.sh runs from payload/ and passes absolute paths; these defaults are for runs from payload/.
const env = process.env
const databaseURI = env.DATABASE_URI || `file:${path.join(process.cwd(), 'data', 'payload.db')}`
const mediaDir = path.resolve(env.MEDIA_DIR || path.join(process.cwd(), 'data', 'media'))
const maxUploadBytes = Number(env.MAX_UPLOAD_BYTES || 5 * 1024 ** 3)

const Users: CollectionConfig = {
  slug: 'users',
  auth: { useAPIKey: true },
  fields: [],
}

const storage = env.S3_BUCKET
  ? s3Storage({
      bucket: env.S3_BUCKET,
      collections: {
        media: {
          prefix: '',
          ...(env.S3_PUBLIC_URL
            ? { generateFileURL: ({ filename, prefix }) => `${env.S3_PUBLIC_URL}/${path.posix.join(prefix || '', filename)}` }
            : {}),
        },
      },
      config: {
        endpoint: env.S3_ENDPOINT || undefined,
        region: env.S3_REGION || 'auto',
        forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
        credentials: { accessKeyId: env.S3_ACCESS_KEY_ID || '', secretAccessKey: env.S3_SECRET_ACCESS_KEY || '' },
      },
    })
  : cloudStoragePlugin({
      collections: { media: { adapter: localDiskAdapter(mediaDir), disableLocalStorage: true, prefix: '' } },
    })

export default buildConfig({
  secret: env.PAYLOAD_SECRET || 'distribution-dev-secret-change-me',
  serverURL: env.PAYLOAD_PUBLIC_SERVER_URL || '',
  // The default avatar is Gravatar's, an outside request; the admin works offline.
  admin: { avatar: 'default' },
  collections: [Users],
  db: databaseURI.startsWith('postgres')
    ? postgresAdapter({ pool: { connectionString: databaseURI } })
    : // busyTimeout: with --admin, the REST server and the admin app share the SQLite file.
      sqliteAdapter({ busyTimeout: 5000, client: { url: databaseURI } }),
  // distributionPlugin adds the `media` and `distributionRecords` collections; the storage
  // plugin comes after it so that it sees `media`.
  // The upsert endpoint receives files into <MEDIA_DIR>/.incoming, on the media folder's
  // filesystem, so the local-disk adapter hard-links them into place instead of copying.
  plugins: [distributionPlugin({ incomingDir: env.S3_BUCKET ? undefined : path.join(mediaDir, '.incoming') }), storage],
  // Videos are large: stream uploads to temp files instead of memory, and raise Payload's
  // 20 MB default limit to MAX_UPLOAD_BYTES (default 5 GiB, like the Django side's limit).
  upload: {
    useTempFiles: true,
    tempFileDir: env.UPLOAD_TEMP_DIR || os.tmpdir(),
    limits: { fileSize: maxUploadBytes },
    requestSizeLimit: maxUploadBytes + 1024 * 1024,
  },
  telemetry: false,
  typescript: { autoGenerate: false },
})
