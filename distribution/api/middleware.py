"""Under /api/, every error answer is the JSON error shape, never one of Django's HTML pages.

DRF's own refusals already are (api.views.error_handler); this middleware catches the
rest: unknown /api/ paths (404), requests Django refuses before DRF runs (a bad Host
header, 400), and unhandled exceptions (500, logged by Django as usual).
"""

from http import HTTPStatus

from django.http import JsonResponse

from distribution.errors import ERRORS, error_body

API_PREFIX = "/api/"
# The code each plain HTTP status answers with; every one of them is in ERRORS (the published contract).
CODE_OF_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def json_error(status: int, code: str | None = None, message: str | None = None) -> JsonResponse:
    code = code or CODE_OF_STATUS.get(status, "internal_error")
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return JsonResponse(error_body(code, message or f"{phrase}."), status=status if code in ERRORS else 500)


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
