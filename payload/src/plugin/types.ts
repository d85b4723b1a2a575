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
}

export type DistributionPluginOptions = UpsertOptions & {
  /** Slug of the upload collection to extend; created (MP4 only) when the config has none. Default `media`. */
  mediaSlug?: string
  /** Leave the config untouched (Payload's plugin convention). */
  disabled?: boolean
}
