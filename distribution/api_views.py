"""The REST surface: POST /api/distribution/publish."""

from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from .errors import PublishError
from .models import PublishAttempt
from .publishing import publish


class PublishView(APIView):
    parser_classes = [JSONParser]

    def post(self, request):
        try:
            result = publish(request.data, source=PublishAttempt.Source.API)
        except PublishError as error:
            return Response({"error": error.as_dict()}, status=error.http_status)
        return Response({"distribution_record": result.distribution_record}, status=status.HTTP_201_CREATED)


def error_handler(exc, context):
    """DRF's own refusals (401, 403, 415, ...) in the same error shape as the pipeline's."""
    response = exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        message = str(getattr(exc, "detail", exc))
        response.data = {"error": {"code": code, "message": message, "audit_log_id": None}}
    return response
