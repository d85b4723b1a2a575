/** Options of the media endpoints (upsert and register). */
export type UpsertOptions = {
  /**
   * Folder for the endpoints' temp files. Put it on the media folder's filesystem (e.g.
   * `<MEDIA_DIR>/.incoming`) so a local-disk adapter can hard-link the file into place instead of
   * copying it. Default: Payload's `upload.tempFileDir`, else the OS temp folder.
   */
  incomingDir?: string
  /** Largest file the upsert endpoint accepts. Default: Payload's `upload.limits.fileSize`, else 5 GiB. */
  maxFileSize?: number
  /**
   * The longest an upload may take, in seconds. The plugin's temp files in the incoming folder older
   * than this were left by a process killed mid-upload: removed at start and every quarter of this
   * (at most every 15 minutes). Default 3600 (Django's publish deadline).
   */
  maxUploadSeconds?: number
}

/** How records' public_url links are made (links.ts). Default: signed, expiring links to `<mediaSlug>/download`. */
export type LinkOptions = {
  /**
   * Permanent public links: public_url is the media document's own URL, expires_at null, and the
   * media collection (when it has no read rule of its own) is readable by anyone.
   */
  publicLinks?: boolean
  /**
   * Object storage (S3/R2): a presigned GET URL of the object `key`, valid `expiresIn` seconds
   * from `signedAt` (at most 7 days).
   */
  presign?: (args: { key: string; expiresIn: number; signedAt: Date }) => Promise<string>
}

export type DistributionPluginOptions = UpsertOptions & LinkOptions & {
  /** Slug of the upload collection to extend; created (MP4 only) when the config has none. Default `media`. */
  mediaSlug?: string
  /** Leave the config untouched (Payload's plugin convention). */
  disabled?: boolean
}
