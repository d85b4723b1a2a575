"""Who is calling: per-caller API keys for machine callers (the orchestrator), next to DRF tokens and sessions.

Keys are djangorestframework-api-key's: created in the admin (*API Key Permissions*) or with
`manage.py create_api_key NAME`, shown once, stored hashed, named, revocable, with an
optional expiry. A caller sends `X-API-Key: <key>` and is recorded as `api-key:<name>`.

DISTRIBUTION_API_KEYS (plain keys in the environment) are a development convenience only:
they are accepted while DEBUG is on (scripts/dev), never in production.
"""

import hashlib
import hmac
import time
from datetime import datetime

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework_api_key.models import APIKey

from distribution.conf import app_settings

API_KEY_HEADER = "X-API-Key"
PUBLISH_PERMISSION = "distribution.publish"
UNPUBLISH_PERMISSION = "distribution.unpublish"
CANCEL_PERMISSION = "distribution.cancel"


class APIKeyCaller:
    """The caller behind a valid API key: authenticated, not a Django user, allowed to publish only.

    Publishing includes reading the records and renewing their links; taking a video down
    (distribution.unpublish) is for users and their DRF tokens, granted by an administrator.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, name: str):
        self.username = f"api-key:{name}"

    def has_perm(self, perm: str, obj=None) -> bool:
        return perm == PUBLISH_PERMISSION

    def __str__(self):
        return self.username


class APIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        given = request.headers.get(API_KEY_HEADER)
        if not given:
            return None
        name = _verified_key_name(given)
        if name is not None:
            return APIKeyCaller(name), None
        if settings.DEBUG and any(
            dev_key and hmac.compare_digest(given.encode(), dev_key.encode()) for dev_key in app_settings().api_keys
        ):
            return APIKeyCaller("development"), None
        raise exceptions.AuthenticationFailed("Invalid API key.")

    def authenticate_header(self, request):
        return API_KEY_HEADER


# A key found valid is trusted this long by the process that checked it, saving a query per request: a key revoked,
# deleted or changed is refused at once by the process that saved it and within this time by the others.
VERIFIED_KEY_SECONDS = 5.0
_verified: dict[bytes, tuple[float, str, datetime | None]] = {}  # sha256(key) -> (trusted until, name, expiry)


def _verified_key_name(given: str) -> str | None:
    """The name of the valid, unexpired key `given`; None if there is no such key."""
    digest = hashlib.sha256(given.encode()).digest()
    trusted = _verified.get(digest)
    if trusted is not None:
        until, name, expiry = trusted
        if time.monotonic() < until and (expiry is None or expiry > timezone.now()):
            return name
    try:
        key = APIKey.objects.get_from_key(given)
    except APIKey.DoesNotExist:
        return None
    if key.has_expired:
        return None
    _verified[digest] = (time.monotonic() + VERIFIED_KEY_SECONDS, key.name, key.expiry_date)
    return key.name


@receiver([post_save, post_delete], sender=APIKey)
def _forget_verified_keys(**kwargs) -> None:
    _verified.clear()


class APIKeyScheme(OpenApiAuthenticationExtension):
    """APIKeyAuthentication in the OpenAPI document."""

    target_class = APIKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
