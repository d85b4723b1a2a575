"""The direct path to S3/R2: large assets go straight to the bucket Payload's media collection stores in.

When DISTRIBUTION_S3_BUCKET is set, an asset over DISTRIBUTION_DIRECT_UPLOAD_MIN_BYTES (or of unknown
size) is uploaded by the app itself, with its own bucket credentials, at the key Payload's storage-s3
adapter gives the file (prefix + filename: `<project_id>/<storage_prefix>/<audit_log_id>.mp4`), and then
registered in PayloadCMS as the media document. Payload is not in the data path.

The requests to the bucket are signed here and sent with httpx (storage/client.py): no boto3 in the worker.
"""

from distribution.conf import app_settings


def direct_upload_wanted(size: int | None) -> bool:
    """Whether an asset of `size` bytes (None: unknown) takes the direct path to the bucket."""
    config = app_settings()
    return bool(config.s3_bucket) and (size is None or size > config.direct_upload_min_bytes)
