/**
 * The one rule for the folders of a storage path (<project_id>/<storage_prefix>/<audit_log_id>.mp4),
 * the same as the Django side's: each folder segment is 1 to 64 characters from A-Z a-z 0-9 . _ -
 * and does not start with '.' (no '.', '..' nor hidden folders). tests/fixtures/path-segments.json
 * holds the cases both test suites check.
 */
const FOLDER_SEGMENT = /^(?!\.)[A-Za-z0-9._-]{1,64}$/

export const STORAGE_PATH_RULE =
  'storage_path must be <folders>/<audit_log_id>.mp4, each folder 1 to 64 characters from A-Z a-z 0-9 . _ - not starting with "."'

/** Whether `storagePath` is at least one valid folder followed by `<auditLogId>.mp4`. */
export const isStoragePath = (storagePath: string, auditLogId: string) => {
  const segments = storagePath.split('/')
  const fileName = segments.pop()
  return fileName === `${auditLogId}.mp4` && segments.length > 0 && segments.every((segment) => FOLDER_SEGMENT.test(segment))
}
