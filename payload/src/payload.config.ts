/**
 * PayloadCMS schema of the distribution app: `users` (API keys), `media` (the MP4s, stored
 * at <project_id>/<storage_prefix>/<audit_log_id>.mp4) and `distributionRecords`.
 *
 * Storage is local disk (MEDIA_DIR) unless S3_BUCKET is set, then S3/Cloudflare R2.
 * The database is SQLite (DATABASE_URI=file:...) unless DATABASE_URI is a postgres URL.
 */
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { postgresAdapter } from '@payloadcms/db-postgres'
import { sqliteAdapter } from '@payloadcms/db-sqlite'
import { cloudStoragePlugin } from '@payloadcms/plugin-cloud-storage'
import { s3Storage } from '@payloadcms/storage-s3'
import { buildConfig, type Access, type CollectionConfig } from 'payload'

import { localDiskAdapter } from './localDiskAdapter.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const env = process.env
const databaseURI = env.DATABASE_URI || `file:${path.join(root, 'data', 'payload.db')}`
const mediaDir = path.resolve(env.MEDIA_DIR || path.join(root, 'data', 'media'))
const maxUploadBytes = Number(env.MAX_UPLOAD_BYTES || 5 * 1024 ** 3)

const anyone: Access = () => true
const apiUsers: Access = ({ req }) => Boolean(req.user)

const Users: CollectionConfig = {
  slug: 'users',
  auth: { useAPIKey: true },
  fields: [],
}

const Media: CollectionConfig = {
  slug: 'media',
  access: { read: anyone, create: apiUsers, update: apiUsers, delete: apiUsers },
  upload: { mimeTypes: ['video/mp4'] },
  hooks: {
    // Filenames are deterministic (<audit_log_id>.mp4): the uploaded file is named after
    // storage_path's last segment, whatever the client called it, and a re-publish replaces
    // the file in place instead of Payload's default of renaming it to <name>-1.mp4.
    beforeOperation: [
      ({ args, operation }) => {
        if (operation !== 'create' && operation !== 'update') return args
        const storagePath = args.data?.storage_path
        if (args.req?.file && typeof storagePath === 'string' && storagePath) {
          args.req.file.name = path.posix.basename(storagePath)
        }
        return { ...args, overwriteExistingFiles: true }
      },
    ],
    // The storage folder is the directory part of storage_path.
    beforeValidate: [
      ({ data }) => {
        if (data?.storage_path) {
          data.prefix = path.posix.dirname(data.storage_path)
        }
        return data
      },
    ],
  },
  fields: [
    { name: 'project_id', type: 'text', required: true, index: true },
    { name: 'audit_log_id', type: 'text', required: true, unique: true, index: true },
    { name: 'checksum', type: 'text', required: true },
    { name: 'storage_path', type: 'text', required: true },
  ],
}

const DistributionRecords: CollectionConfig = {
  slug: 'distributionRecords',
  access: { read: anyone, create: apiUsers, update: apiUsers, delete: apiUsers },
  admin: { useAsTitle: 'audit_log_id' },
  fields: [
    { name: 'project_id', type: 'text', required: true, index: true },
    { name: 'audit_log_id', type: 'text', required: true, unique: true, index: true },
    { name: 'title', type: 'text' },
    { name: 'duration_seconds', type: 'number' },
    { name: 'checksum', type: 'text', required: true },
    { name: 'tags', type: 'json' },
    { name: 'storage_path', type: 'text', required: true },
    { name: 'public_url', type: 'text', required: true },
    { name: 'expires_at', type: 'date' },
    { name: 'published_at', type: 'date' },
    { name: 'metadata', type: 'json' },
  ],
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
  collections: [Users, Media, DistributionRecords],
  db: databaseURI.startsWith('postgres')
    ? postgresAdapter({ pool: { connectionString: databaseURI } })
    : sqliteAdapter({ client: { url: databaseURI } }),
  plugins: [storage],
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
