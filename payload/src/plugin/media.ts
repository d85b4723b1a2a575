import path from 'node:path'

import type {
  CollectionBeforeOperationHook,
  CollectionBeforeValidateHook,
  CollectionConfig,
  Field,
  TextFieldSingleValidation,
} from 'payload'

import { anyone, apiKeyUser, PIPELINE_ONLY, signedIn } from './access'
import { CLIENT_COMPONENTS } from './components/paths'
import { mediaDownload } from './endpoints/mediaDownload'
import { mediaRegister } from './endpoints/mediaRegister'
import { mediaUpsert } from './endpoints/mediaUpsert'
import { isStoragePath, STORAGE_PATH_RULE } from './storagePath'
import type { LinkOptions, UpsertOptions } from './types'

/** The fields every distribution upload carries; they go together (all or none). */
export const DISTRIBUTION_MEDIA_FIELDS = ['project_id', 'audit_log_id', 'checksum', 'storage_path'] as const

const LABELS = {
  project_id: 'Project',
  audit_log_id: 'Audit log ID',
  checksum: 'Checksum',
  storage_path: 'Storage path',
}

const isDistributionUpload = (data: Record<string, unknown> | undefined) =>
  DISTRIBUTION_MEDIA_FIELDS.some((name) => data?.[name])

/**
 * Required on distribution uploads only, so a media library that also holds other files
 * (images uploaded by editors) keeps working.
 */
const requiredForDistribution: TextFieldSingleValidation = (value, { data }) =>
  value || !isDistributionUpload(data as Record<string, unknown>)
    ? true
    : `Required for a distribution upload (${DISTRIBUTION_MEDIA_FIELDS.join(', ')} go together).`

/** storage_path: required like the others, and a path the storage rule accepts (storagePath.ts). */
const validStoragePath: TextFieldSingleValidation = (value, options) => {
  const required = requiredForDistribution(value, options)
  if (required !== true || !value) return required
  const { audit_log_id: auditLogId } = (options.data ?? {}) as Record<string, unknown>
  return isStoragePath(value, String(auditLogId ?? '')) ? true : `${STORAGE_PATH_RULE}.`
}

const distributionFields = (): Field[] => [
  ...DISTRIBUTION_MEDIA_FIELDS.map(
    (name): Field => ({
      name,
      type: 'text',
      label: LABELS[name],
      index: name === 'project_id' || name === 'audit_log_id',
      unique: name === 'audit_log_id',
      validate: name === 'storage_path' ? validStoragePath : requiredForDistribution,
      admin: { readOnly: true, position: 'sidebar' },
    }),
  ),
  // Admin only, not stored: plays the uploaded video on the document.
  { name: 'videoPreview', type: 'ui', admin: { components: { Field: `${CLIENT_COMPONENTS}#VideoPreview` } } },
]

/**
 * Filenames are deterministic (<audit_log_id>.mp4): the uploaded file is named after
 * storage_path's last segment, whatever the client called it, and a re-publish replaces the
 * file in place instead of Payload's default of renaming it to <name>-1.mp4.
 */
const deterministicFilename: CollectionBeforeOperationHook = ({ args, operation }) => {
  if (operation !== 'create' && operation !== 'update') return args
  const storagePath = args.data?.storage_path
  if (typeof storagePath !== 'string' || !storagePath) return args
  if (args.req?.file) {
    args.req.file.name = path.posix.basename(storagePath)
  }
  return { ...args, overwriteExistingFiles: true }
}

/**
 * The storage folder is the directory part of storage_path: the cloud-storage plugins
 * (@payloadcms/storage-s3, ...) key files by `prefix/filename`.
 */
const prefixFromStoragePath: CollectionBeforeValidateHook = ({ data }) => {
  if (typeof data?.storage_path === 'string' && data.storage_path) {
    data.prefix = path.posix.dirname(data.storage_path)
  }
  return data
}

/**
 * A video upload collection, for projects that have none under the configured slug. Only the
 * service (its API key) writes it: the admin shows no Create New, Bulk Upload or Delete.
 */
const newMediaCollection = (slug: string): CollectionConfig => ({
  slug,
  access: { create: apiKeyUser, update: apiKeyUser, delete: apiKeyUser },
  admin: {
    defaultColumns: ['filename', 'project_id', 'audit_log_id', 'filesize', 'updatedAt'],
    listSearchableFields: ['audit_log_id', 'filename', 'project_id'],
    description: `The published video files. ${PIPELINE_ONLY}`,
  },
  upload: { mimeTypes: ['video/mp4'], bulkUpload: false },
  // Payload's own upload field, shown in KiB/MiB/GiB in the list.
  fields: [{ name: 'filesize', type: 'number', admin: { components: { Cell: `${CLIENT_COMPONENTS}#FileSizeCell` } } }],
})

/**
 * The upload collection with the distribution fields and hooks added. Its own fields, hooks
 * and access rules stay; an undefined read rule becomes "signed-in users" (links are signed
 * instead), or "anyone" with `publicLinks` (permanent public URLs). Adds the upsert, register and
 * download endpoints.
 */
export const withDistributionMedia = (
  existing: CollectionConfig | undefined,
  slug: string,
  options: UpsertOptions & LinkOptions = {},
): CollectionConfig => {
  const collection = existing ?? newMediaCollection(slug)
  if (!collection.upload) {
    throw new Error(`distributionPlugin: collection '${slug}' must be an upload collection.`)
  }
  const taken = [...DISTRIBUTION_MEDIA_FIELDS, 'videoPreview'].filter((name) =>
    collection.fields.some((field) => 'name' in field && field.name === name),
  )
  if (taken.length) {
    throw new Error(`distributionPlugin: collection '${slug}' already has field(s) named ${taken.join(', ')}.`)
  }
  const hooks = collection.hooks ?? {}
  return {
    ...collection,
    access: { ...collection.access, read: collection.access?.read ?? (options.publicLinks ? anyone : signedIn) },
    hooks: {
      ...hooks,
      beforeOperation: [...(hooks.beforeOperation ?? []), deterministicFilename],
      beforeValidate: [...(hooks.beforeValidate ?? []), prefixFromStoragePath],
    },
    fields: [...collection.fields, ...distributionFields()],
    // PUT <slug>/upsert and <slug>/register, GET <slug>/download/...; a collection with endpoints disabled keeps them off.
    endpoints:
      collection.endpoints === false
        ? false
        : [...(collection.endpoints ?? []), mediaUpsert(slug, options), mediaRegister(slug, options), mediaDownload(slug)],
  }
}
