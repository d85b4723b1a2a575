"""Who is calling: per-caller API keys for machine callers (the orchestrator), next to DRF tokens and sessions.

Keys are djangorestframework-api-key's: created in the admin (*API Key Permissions*) or with
`manage.py create_api_key NAME`, shown once, stored hashed, named, revocable, with an
optional expiry. A caller sends `X-API-Key: <key>` and is recorded as `api-key:<name>`.

DISTRIBUTION_API_KEYS (plain keys in the environment) are a development convenience only:
they are accepted while DEBUG is on (scripts/dev), never in production.
"""

import hmac

from django.conf import settings
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
        try:
            key = APIKey.objects.get_from_key(given)
        except APIKey.DoesNotExist:
            key = None
        if key is not None and not key.has_expired:
            return APIKeyCaller(key.name), key
        if settings.DEBUG and any(
            dev_key and hmac.compare_digest(given.encode(), dev_key.encode()) for dev_key in app_settings().api_keys
        ):
            return APIKeyCaller("development"), None
        raise exceptions.AuthenticationFailed("Invalid API key.")

    def authenticate_header(self, request):
        return API_KEY_HEADER


class APIKeyScheme(OpenApiAuthenticationExtension):
    """APIKeyAuthentication in the OpenAPI document."""

    target_class = APIKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
