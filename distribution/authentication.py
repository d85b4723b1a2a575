"""API-key authentication for machine callers (the orchestrator), next to DRF tokens."""

import hmac

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .conf import app_settings

API_KEY_HEADER = "X-API-Key"


class APIKeyClient:
    """The caller behind a valid API key: authenticated, but not a Django user."""

    is_authenticated = True
    is_anonymous = False
    username = "api-key"

    def __str__(self):
        return self.username


class APIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        given = request.headers.get(API_KEY_HEADER)
        if not given:
            return None
        for key in app_settings().api_keys:
            if key and hmac.compare_digest(given.encode(), key.encode()):
                return APIKeyClient(), None
        raise exceptions.AuthenticationFailed("Invalid API key.")

    def authenticate_header(self, request):
        return API_KEY_HEADER


class APIKeyScheme(OpenApiAuthenticationExtension):
    """APIKeyAuthentication in the OpenAPI document."""

    target_class = APIKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
