import type { CollectionBeforeChangeHook, CollectionConfig, Field } from 'payload'

import { apiKeyUser, PIPELINE_ONLY, signedIn } from './access'
import { CLIENT_COMPONENTS } from './components/paths'
import { recordLink } from './endpoints/recordLink'
import { recordUnpublish } from './endpoints/recordUnpublish'
import { recordUpsert } from './endpoints/recordUpsert'
import { DEFAULT_EXPIRY_HOURS, findMedia, makeLink } from './links'
import { Refusal } from './refusal'
import type { LinkOptions } from './types'

export const DISTRIBUTION_RECORDS_SLUG = 'distributionRecords'

/** Dates to the second with the zone (the browser's), e.g. 2026-12-02 17:54:33 +00:00. */
export const DATE_DISPLAY_FORMAT = 'yyyy-MM-dd HH:mm:ss xxx'
// The link's dates, lifetime and storage go in the sidebar, so the record's identity, link, tags and metadata fit one screen.
const sidebar = { position: 'sidebar' as const }
const dateTime = { ...sidebar, date: { pickerAppearance: 'dayAndTime' as const, displayFormat: DATE_DISPLAY_FORMAT } }
const jsonView = { components: { Field: `${CLIENT_COMPONENTS}#JSONView` } }

const recordFields: Field[] = [
  // The admin's title of a record (its title, else its audit_log_id), set on every write; not in the form.
  { name: 'display_title', type: 'text', label: 'Record', admin: { condition: () => false } },
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
  { name: 'url_expiry_hours', type: 'number', label: 'Link lifetime (h)', admin: sidebar },
  { name: 'unpublished_at', type: 'date', label: 'Unpublished at', admin: dateTime },
  { name: 'unpublish_reason', type: 'text', label: 'Unpublish reason', admin: sidebar },
  { name: 'duration_seconds', type: 'number', label: 'Duration (s)', admin: sidebar },
  { name: 'storage_path', type: 'text', label: 'Storage path', required: true, admin: sidebar },
  // The request's storage prefix, stored as given so a re-publish never has to cut it out of storage_path.
  { name: 'storage_prefix', type: 'text', label: 'Storage prefix', admin: sidebar },
  { name: 'tags', type: 'json', label: 'Tags', admin: jsonView },
  { name: 'metadata', type: 'json', label: 'Metadata', admin: jsonView },
]

/** The admin's title: the record's title, else its audit_log_id (never "<No Title>"). */
const setDisplayTitle: CollectionBeforeChangeHook = ({ data, originalDoc }) => {
  const title = 'title' in data ? data.title : originalDoc?.title
  return { ...data, display_title: title || (data.audit_log_id ?? originalDoc?.audit_log_id) }
}

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
    const auditLogId = data.audit_log_id ?? originalDoc?.audit_log_id
    if (unpublished) return { ...data, public_url: null, expires_at: null }
    const media = await findMedia(req, mediaSlug, auditLogId)
    if (!media) {
      throw new Refusal(`No ${mediaSlug} document with audit_log_id ${auditLogId}: upload the file first.`, 422)
    }
    return { ...data, ...(await makeLink(req, mediaSlug, options, media, data.url_expiry_hours ?? DEFAULT_EXPIRY_HOURS)) }
  }

/** One document per audit_log_id: what was published where, written by the service's API key only; read by signed-in users. */
export const distributionRecords = (mediaSlug: string, options: LinkOptions = {}): CollectionConfig => ({
  slug: DISTRIBUTION_RECORDS_SLUG,
  access: { read: signedIn, create: apiKeyUser, update: apiKeyUser, delete: apiKeyUser },
  endpoints: [
    recordUpsert(DISTRIBUTION_RECORDS_SLUG),
    recordLink(DISTRIBUTION_RECORDS_SLUG),
    recordUnpublish(DISTRIBUTION_RECORDS_SLUG, mediaSlug),
  ],
  hooks: { beforeChange: [setDisplayTitle, setLink(mediaSlug, options)] },
  admin: {
    useAsTitle: 'display_title',
    // Fits 1280 px; the checksum, lifetime and storage path are on the record's page.
    defaultColumns: ['display_title', 'project_id', 'audit_log_id', 'public_url', 'published_at', 'expires_at'],
    listSearchableFields: ['audit_log_id', 'title', 'project_id'],
    description: `Published videos, one record per audit_log_id. ${PIPELINE_ONLY}`,
  },
  // Read-only in the admin: the Django app writes them, and its mirror follows this collection.
  fields: recordFields.map((field) => ({ ...field, admin: { ...field.admin, readOnly: true } }) as Field),
})
