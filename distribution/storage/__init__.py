"""The direct path to S3/R2: large assets go straight to the bucket Payload's media collection stores in.

When DISTRIBUTION_S3_BUCKET is set, an asset over DISTRIBUTION_DIRECT_UPLOAD_MIN_BYTES (or of unknown
size) is uploaded by the app itself, with its own bucket credentials, at the key Payload's storage-s3
adapter gives the file (prefix + filename: `<project_id>/<storage_prefix>/<audit_log_id>.mp4`), and then
registered in PayloadCMS as the media document. Payload is not in the data path.
"""

from .client import s3_client
from .multipart import delete_object, direct_upload_wanted, upload_multipart

__all__ = ["delete_object", "direct_upload_wanted", "s3_client", "upload_multipart"]
