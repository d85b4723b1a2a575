import type { CollectionConfig } from 'payload'

import { anyone, signedIn } from './access.js'

export const DISTRIBUTION_RECORDS_SLUG = 'distributionRecords'

/** One document per audit_log_id: what was published where, written (upserted) by the Django app only. */
export const distributionRecords = (): CollectionConfig => ({
  slug: DISTRIBUTION_RECORDS_SLUG,
  access: { read: anyone, create: signedIn, update: signedIn, delete: signedIn },
  admin: {
    useAsTitle: 'title',
    defaultColumns: ['title', 'project_id', 'audit_log_id', 'checksum', 'public_url', 'published_at', 'expires_at'],
    group: 'Distribution',
    description: 'Published videos, written by the distribution app (one per audit_log_id).',
  },
  fields: [
    { name: 'project_id', type: 'text', required: true, index: true },
    { name: 'audit_log_id', type: 'text', required: true, unique: true, index: true },
    { name: 'title', type: 'text' },
    { name: 'duration_seconds', type: 'number' },
    { name: 'checksum', type: 'text', required: true },
    { name: 'tags', type: 'json' },
    { name: 'storage_path', type: 'text', required: true },
    { name: 'public_url', type: 'text', required: true },
    { name: 'expires_at', type: 'date', admin: { date: { pickerAppearance: 'dayAndTime' } } },
    { name: 'published_at', type: 'date', admin: { date: { pickerAppearance: 'dayAndTime' } } },
    { name: 'metadata', type: 'json' },
  ],
})
