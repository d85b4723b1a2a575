import type { CollectionConfig, Field } from 'payload'

import { anyone, signedIn } from './access'
import { CLIENT_COMPONENTS } from './components/paths'
import { recordUpsert } from './endpoints/recordUpsert'

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
    required: true,
    admin: {
      components: { Cell: `${CLIENT_COMPONENTS}#PublicURLCell`, Field: `${CLIENT_COMPONENTS}#PublicURLField` },
    },
  },
  { name: 'published_at', type: 'date', label: 'Published at', admin: dateTime },
  { name: 'expires_at', type: 'date', label: 'Expires at', admin: dateTime },
  { name: 'duration_seconds', type: 'number', label: 'Duration (s)' },
  { name: 'storage_path', type: 'text', label: 'Storage path', required: true },
  // The request's storage prefix, stored as given so a re-publish never has to cut it out of storage_path.
  { name: 'storage_prefix', type: 'text', label: 'Storage prefix' },
  { name: 'tags', type: 'json', label: 'Tags' },
  { name: 'metadata', type: 'json', label: 'Metadata' },
]

/** One document per audit_log_id: what was published where, written (upserted) by the Django app only. */
export const distributionRecords = (): CollectionConfig => ({
  slug: DISTRIBUTION_RECORDS_SLUG,
  access: { read: anyone, create: signedIn, update: signedIn, delete: signedIn },
  endpoints: [recordUpsert(DISTRIBUTION_RECORDS_SLUG)],
  admin: {
    useAsTitle: 'title',
    defaultColumns: ['title', 'project_id', 'audit_log_id', 'checksum', 'public_url', 'published_at', 'expires_at'],
    description: 'Published videos, written by the distribution app (one record per audit_log_id).',
  },
  // Read-only in the admin: the Django app writes them, and its mirror follows this collection.
  fields: recordFields.map((field) => ({ ...field, admin: { ...field.admin, readOnly: true } }) as Field),
})
