"""Sample requests, keys and records the tests share."""

import hashlib
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from distribution.models import PublishJob

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_MP4 = (ROOT / "tests" / "fixtures" / "sample.mp4").read_bytes()
SAMPLE_CHECKSUM = "sha256:" + hashlib.sha256(SAMPLE_MP4).hexdigest()
CMS_API_KEY = "test-cms-key-0123456789"
ORCHESTRATOR_KEY = "orchestr.test-orchestrator-secret-0123456789"


def publish_request(video_url: str, **overrides) -> dict:
    """A valid publish request for the sample MP4; keyword arguments replace top-level parts."""
    body = {
        "final_edit": {"video_url": video_url, "duration_seconds": 2.0, "checksum": SAMPLE_CHECKSUM},
        "qc_report": {"status": "pass"},
        "distribution_settings": {
            "storage_prefix": "mvp/",
            "url_expiry_hours": 72,
            "metadata": {"title": "Sample cut", "concept_id": "concept-42", "tags": ["demo", "test"]},
        },
    }
    body.update(overrides)
    return body


def make_job(status: str, latency_ms: int | None, size: int | None = None, days_ago: int = 0, **fields):
    """A PublishJob as the pipeline leaves it, for figures that need chosen latencies and dates."""
    return PublishJob.objects.create(
        status=status,
        latency_ms=latency_ms,
        asset_size=size,
        started_at=timezone.now() - timedelta(days=days_ago),
        **fields,
    )


def audit_events(caplog) -> list[dict]:
    """The audit events logged, each read back from the JSON line the configured `audit` handler writes."""
    handler = next(h for h in logging.getLogger("distribution.audit").handlers if h.name == "audit")
    assert handler.formatter is not None
    return [
        json.loads(handler.formatter.format(r))
        for r in caplog.records
        if r.name == "distribution.audit" and r.levelno == logging.INFO
    ]


def install_api_key(name: str, key: str) -> None:
    """A real, hashed djangorestframework-api-key key whose value the test chooses ('<prefix>.<secret>')."""
    from rest_framework_api_key.crypto import KeyGenerator
    from rest_framework_api_key.models import APIKey

    prefix = key.partition(".")[0]
    hashed = KeyGenerator().hash(key)
    APIKey.objects.create(id=f"{prefix}.{hashed}", name=name, prefix=prefix, hashed_key=hashed)


def screenshot(driver, tmp_path, name: str) -> Path:
    target_dir = Path(os.environ.get("DISTRIBUTION_SCREENSHOT_DIR") or tmp_path)
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank
    return path
