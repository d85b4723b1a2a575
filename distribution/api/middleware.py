"""Under /api/, every error answer is the JSON error shape, never one of Django's HTML pages.

DRF's own refusals already are (api.views.error_handler); this middleware catches the
rest: unknown /api/ paths (404), requests Django refuses before DRF runs (a bad Host
header, 400), and unhandled exceptions (500, logged by Django as usual).
"""

from http import HTTPStatus

from django.http import JsonResponse

API_PREFIX = "/api/"
_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}


def json_error(status: int, code: str | None = None, message: str | None = None) -> JsonResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {
        "error": {"code": code or _CODES.get(status, "error"), "message": message or f"{phrase}.", "audit_log_id": None}
    }
    return JsonResponse(body, status=status)


class APIErrorsAsJSONMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return json_error(response.status_code)
        return response
