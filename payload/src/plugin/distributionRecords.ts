import type { CollectionBeforeChangeHook, CollectionConfig, Field } from 'payload'

import { signedIn } from './access'
import { CLIENT_COMPONENTS } from './components/paths'
import { recordLink } from './endpoints/recordLink'
import { recordUnpublish } from './endpoints/recordUnpublish'
import { recordUpsert } from './endpoints/recordUpsert'
import { DEFAULT_EXPIRY_HOURS, findMedia, makeLink } from './links'
import { Refusal } from './refusal'
import type { LinkOptions } from './types'

export const DISTRIBUTION_RECORDS_SLUG = 'distributionRecords'

const dateTime = { date: { pickerAppearance: 'dayAndTime' as const } }

const recordFields: Field[] = [
  { name: 'title', type: 'text', label: 'Title' },
  { name: 'project_id', type: 'text', label: 'Project', required: true, index: true },
  { name: 'audit_log_id', type: 'text', label: 'Audit log ID', required: true, unique: true, index: true },
  {
    name: 'checksum',
    type: 'text',
    label: 'Checksum',
    required: true,
    admin: { components: { Cell: `${CLIENT_COMPONENTS}#ChecksumCell` } },
  },
  {
    name: 'public_url',
    type: 'text',
    label: 'Public URL',
    admin: {
      components: { Cell: `${CLIENT_COMPONENTS}#PublicURLCell`, Field: `${CLIENT_COMPONENTS}#PublicURLField` },
    },
  },
  { name: 'published_at', type: 'date', label: 'Published at', admin: dateTime },
  { name: 'expires_at', type: 'date', label: 'Expires at', admin: dateTime },
  // The link lifetime the publish asked for; a renew without one keeps it.
  { name: 'url_expiry_hours', type: 'number', label: 'Link lifetime (h)' },
  { name: 'unpublished_at', type: 'date', label: 'Unpublished at', admin: dateTime },
  { name: 'unpublish_reason', type: 'text', label: 'Unpublish reason' },
  { name: 'duration_seconds', type: 'number', label: 'Duration (s)' },
  { name: 'storage_path', type: 'text', label: 'Storage path', required: true },
  // The request's storage prefix, stored as given so a re-publish never has to cut it out of storage_path.
  { name: 'storage_prefix', type: 'text', label: 'Storage prefix' },
  { name: 'tags', type: 'json', label: 'Tags' },
  { name: 'metadata', type: 'json', label: 'Metadata' },
]

/**
 * public_url and expires_at are Payload's, whatever the client sent: on every write a published
 * record gets a fresh link to its media document's file, an unpublished one (the tombstone) none.
 */
const setLink =
  (mediaSlug: string, options: LinkOptions): CollectionBeforeChangeHook =>
  async ({ data, originalDoc, req }) => {
    // An explicit null clears the tombstone (a publish); a missing or null lifetime keeps the stored one.
    const unpublished = 'unpublished_at' in data ? data.unpublished_at : originalDoc?.unpublished_at
    data.url_expiry_hours = data.url_expiry_hours ?? originalDoc?.url_expiry_hours ?? null
    if (unpublished) return { ...data, public_url: null, expires_at: null }
    const auditLogId = data.audit_log_id ?? originalDoc?.audit_log_id
    const media = await findMedia(req, mediaSlug, auditLogId)
    if (!media) {
      throw new Refusal(`No ${mediaSlug} document with audit_log_id ${auditLogId}: upload the file first.`, 422)
    }
    return { ...data, ...(await makeLink(req, mediaSlug, options, media, data.url_expiry_hours ?? DEFAULT_EXPIRY_HOURS)) }
  }

/** One document per audit_log_id: what was published where, written by the Django app only; read by signed-in users. */
export const distributionRecords = (mediaSlug: string, options: LinkOptions = {}): CollectionConfig => ({
  slug: DISTRIBUTION_RECORDS_SLUG,
  access: { read: signedIn, create: signedIn, update: signedIn, delete: signedIn },
  endpoints: [
    recordUpsert(DISTRIBUTION_RECORDS_SLUG),
    recordLink(DISTRIBUTION_RECORDS_SLUG),
    recordUnpublish(DISTRIBUTION_RECORDS_SLUG, mediaSlug),
  ],
  hooks: { beforeChange: [setLink(mediaSlug, options)] },
  admin: {
    useAsTitle: 'title',
    defaultColumns: ['title', 'project_id', 'audit_log_id', 'checksum', 'public_url', 'published_at', 'expires_at', 'unpublished_at'],
    description: 'Published videos, written by the distribution app (one record per audit_log_id).',
  },
  // Read-only in the admin: the Django app writes them, and its mirror follows this collection.
  fields: recordFields.map((field) => ({ ...field, admin: { ...field.admin, readOnly: true } }) as Field),
})
