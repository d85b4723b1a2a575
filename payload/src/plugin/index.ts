/**
 * distributionPlugin: the PayloadCMS side of the distribution app, for any Payload 3 project.
 *
 *   plugins: [distributionPlugin()]                       // extends (or adds) the `media` collection
 *   plugins: [distributionPlugin({ mediaSlug: 'videos' })]
 *
 * It adds project_id, audit_log_id (unique), checksum and storage_path to the upload
 * collection, files each upload at <project_id>/<storage_prefix>/<audit_log_id>.mp4 (through
 * a storage adapter keyed by prefix, e.g. @payloadcms/storage-s3; list the storage plugin
 * after this one), and adds the `distributionRecords` collection, whose public_url is a signed,
 * expiring link the plugin serves (links.ts) unless `publicLinks` or `presign` say otherwise.
 */
import type { Config, Plugin } from 'payload'

import { DISTRIBUTION_RECORDS_SLUG, distributionRecords } from './distributionRecords'
import { DEFAULT_MAX_UPLOAD_SECONDS, incomingDirOf, sweepIncomingPeriodically } from './incoming'
import { withDistributionMedia } from './media'
import { Refusal } from './refusal'
import type { DistributionPluginOptions } from './types'

export { DATE_DISPLAY_FORMAT } from './distributionRecords'
export { attachNodeBody, nodeBodyOf } from './nodeBody'
export type { DistributionPluginOptions } from './types'

export const distributionPlugin =
  (options: DistributionPluginOptions = {}): Plugin =>
  (incomingConfig: Config): Config => {
    if (options.disabled) return incomingConfig
    const mediaSlug = options.mediaSlug ?? 'media'
    const collections = incomingConfig.collections ?? []
    if (collections.some((collection) => collection.slug === DISTRIBUTION_RECORDS_SLUG)) {
      throw new Error(`distributionPlugin: the config already has a '${DISTRIBUTION_RECORDS_SLUG}' collection.`)
    }
    const existing = collections.find((collection) => collection.slug === mediaSlug)
    const media = withDistributionMedia(existing, mediaSlug, options)
    const withMedia = existing
      ? collections.map((collection) => (collection === existing ? media : collection))
      : [...collections, media]
    return {
      ...incomingConfig,
      collections: [...withMedia, distributionRecords(mediaSlug, options)],
      // Expected refusals (4xx) are logged as one INFO line, without a stack trace.
      // (Payload types the keys as its own error names; the level applies to any error's name.)
      loggingLevels: { [Refusal.NAME]: 'info', ...incomingConfig.loggingLevels } as Config['loggingLevels'],
      onInit: async (payload) => {
        await incomingConfig.onInit?.(payload)
        const maxAgeMs = (options.maxUploadSeconds ?? DEFAULT_MAX_UPLOAD_SECONDS) * 1000
        await sweepIncomingPeriodically(payload.logger, incomingDirOf(payload.config, options), maxAgeMs)
      },
    }
  }
