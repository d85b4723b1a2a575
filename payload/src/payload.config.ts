/**
 * PayloadCMS project of the distribution app: `users` (API keys) plus what distributionPlugin
 * adds, `media` (the MP4s, stored at <project_id>/<storage_prefix>/<audit_log_id>.mp4) and
 * `distributionRecords`.
 *
 * Storage is local disk (MEDIA_DIR) unless S3_BUCKET is set, then S3/Cloudflare R2.
 * The database is SQLite (DATABASE_URI=file:...) unless DATABASE_URI is a postgres URL.
 * Records' public_url is a signed, expiring link (a presigned GET on S3/R2) unless PUBLIC_LINKS=true.
 */
import os from 'node:os'
import path from 'node:path'

import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { postgresAdapter } from '@payloadcms/db-postgres'
import { sqliteAdapter } from '@payloadcms/db-sqlite'
import { cloudStoragePlugin } from '@payloadcms/plugin-cloud-storage'
import { s3Storage } from '@payloadcms/storage-s3'
import { buildConfig, type CollectionConfig } from 'payload'

import { localDiskAdapter } from './localDiskAdapter'
import { DEFAULT_MAX_UPLOAD_SECONDS } from './plugin/incoming'
import { DATE_DISPLAY_FORMAT, distributionPlugin } from './plugin/index'

// start.sh runs from payload/ and passes absolute paths; these defaults are for runs from payload/.
const env = process.env
const databaseURI = env.DATABASE_URI || `file:${path.join(process.cwd(), 'data', 'payload.db')}`
const mediaDir = path.resolve(env.MEDIA_DIR || path.join(process.cwd(), 'data', 'media'))
const maxUploadBytes = Number(env.MAX_UPLOAD_BYTES || 5 * 1024 ** 3)
const publicLinks = env.PUBLIC_LINKS === 'true'
/** The longest an upload may take (server.ts's request timeout); stale temp files older than this are removed. */
export const maxUploadSeconds = Number(env.MAX_UPLOAD_SECONDS || DEFAULT_MAX_UPLOAD_SECONDS)

export const DEV_SECRET = 'distribution-dev-secret-change-me'

/**
 * The secret signs sessions, API key lookups and download links: production needs a real one.
 * `next build` also runs with NODE_ENV=production but signs nothing.
 */
const payloadSecret = () => {
  const secret = env.PAYLOAD_SECRET
  if (env.NODE_ENV === 'production' && env.NEXT_PHASE !== 'phase-production-build' && (!secret || secret === DEV_SECRET)) {
    throw new Error(
      `PAYLOAD_SECRET is ${secret ? 'the development value' : 'unset'}: refusing to start with NODE_ENV=production. ` +
        'Set PAYLOAD_SECRET to a long random value (payload/start.sh keeps one in payload/data/.secret).',
    )
  }
  return secret || DEV_SECRET
}
const secret = payloadSecret()

const Users: CollectionConfig = {
  slug: 'users',
  auth: { useAPIKey: true },
  fields: [],
}

const s3Config: S3ClientConfig = {
  endpoint: env.S3_ENDPOINT || undefined,
  region: env.S3_REGION || 'auto',
  forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
  credentials: { accessKeyId: env.S3_ACCESS_KEY_ID || '', secretAccessKey: env.S3_SECRET_ACCESS_KEY || '' },
}

/** A SigV4 presigned GET of the object: the bucket stays private. */
export const s3Presigner = (bucket: string, config: S3ClientConfig) => {
  const client = new S3Client(config)
  return ({ key, expiresIn, signedAt }: { key: string; expiresIn: number; signedAt: Date }) =>
    getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn, signingDate: signedAt })
}

const storage = env.S3_BUCKET
  ? s3Storage({
      bucket: env.S3_BUCKET,
      collections: {
        media: {
          prefix: '',
          // A public bucket domain only for permanent public links; otherwise the bucket is private.
          ...(publicLinks && env.S3_PUBLIC_URL
            ? { generateFileURL: ({ filename, prefix }) => `${env.S3_PUBLIC_URL}/${path.posix.join(prefix || '', filename)}` }
            : {}),
        },
      },
      config: s3Config,
    })
  : cloudStoragePlugin({
      collections: { media: { adapter: localDiskAdapter(mediaDir), disableLocalStorage: true, prefix: '' } },
    })

export default buildConfig({
  secret,
  serverURL: env.PAYLOAD_PUBLIC_SERVER_URL || '',
  // The default avatar is Gravatar's, an outside request; the admin works offline.
  admin: { avatar: 'default', dateFormat: DATE_DISPLAY_FORMAT },
  collections: [Users],
  db: databaseURI.startsWith('postgres')
    ? postgresAdapter({ pool: { connectionString: databaseURI } })
    : // busyTimeout: with --admin, the REST server and the admin app share the SQLite file.
      // WAL: readers don't wait for a writer, and a commit is one append to the log. NORMAL syncs
      // the log at checkpoints rather than at every commit: a power loss may undo the last commits
      // (never corrupts), as it may lose the media files, which are not synced either. Small
      // publishes went from ~17 to ~46 per second, one at a time (~22 to ~47, 8 at once).
      sqliteAdapter({ busyTimeout: 5000, client: { url: databaseURI }, wal: { synchronous: 'NORMAL' } }),
  // distributionPlugin adds the `media` and `distributionRecords` collections; the storage
  // plugin comes after it so that it sees `media`.
  // The upsert endpoint receives files into <MEDIA_DIR>/.incoming, on the media folder's
  // filesystem, so the local-disk adapter hard-links them into place instead of copying.
  plugins: [
    distributionPlugin({
      incomingDir: env.S3_BUCKET ? undefined : path.join(mediaDir, '.incoming'),
      maxUploadSeconds,
      publicLinks,
      presign: env.S3_BUCKET ? s3Presigner(env.S3_BUCKET, s3Config) : undefined,
    }),
    storage,
  ],
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
