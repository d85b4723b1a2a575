"""The REST surface: publish, its jobs (read, cancel), and the published records (read, list, renew, unpublish)."""

import re
from urllib.parse import urlencode

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from distribution.api import idempotency
from distribution.api.authentication import CANCEL_PERMISSION, PUBLISH_PERMISSION, UNPUBLISH_PERMISSION
from distribution.api.middleware import CODE_OF_STATUS
from distribution.api.parsers import BoundedJSONParser, RequestTooLarge
from distribution.api.serializers import (
    ErrorResponseSerializer,
    JobResponseSerializer,
    PublishResponseSerializer,
    RecordListQuerySerializer,
    RecordListSerializer,
    RenewLinkRequestSerializer,
    UnpublishRequestSerializer,
)
from distribution.errors import ERRORS, PublishError, error_body
from distribution.jobs import dispatch
from distribution.jobs.bodies import job_body
from distribution.models import PublishJob
from distribution.publishing import catalog, links
from distribution.publishing.plan import PublishRequestSerializer
from distribution.publishing.republish import cms_record
from distribution.records import distribution_record

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


class CanPublish(permissions.BasePermission):
    """The distribution.publish permission, whoever the caller: session, DRF token or API key."""

    message = f"Publishing needs the {PUBLISH_PERMISSION} permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(PUBLISH_PERMISSION))


class CanUnpublish(permissions.BasePermission):
    """The distribution.unpublish permission: taking a video down is granted apart from publishing."""

    message = f"Unpublishing needs the {UNPUBLISH_PERMISSION} permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(UNPUBLISH_PERMISSION))


class CanCancel(permissions.BasePermission):
    """The distribution.cancel permission (a user's, through a session or token; API keys only publish)."""

    message = f"Cancelling a job needs the {CANCEL_PERMISSION} permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(CANCEL_PERMISSION))


def error_responses(*codes: str) -> dict[int, OpenApiResponse]:
    """The ErrorResponse body under each status these codes answer with, naming the codes."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERRORS[code][0], []).append(code)
    return {
        status_code: OpenApiResponse(
            ErrorResponseSerializer, description="; ".join(f"`{code}`: {ERRORS[code][1]}" for code in group)
        )
        for status_code, group in sorted(by_status.items())
    }


NOT_PUBLISH_ERRORS = ("record_not_found", "job_not_found", "not_found", "unknown_tool", "record_unpublished")
AUTH_ERRORS = ("not_authenticated", "authentication_failed", "permission_denied", "not_acceptable")


class PublishView(APIView):
    """Enqueue the publish job and wait for it, so a small publish is answered with its record; past a limit, 202."""

    parser_classes = [BoundedJSONParser]
    permission_classes = [CanPublish]

    @extend_schema(
        operation_id="publish",
        summary="Publish a QC-approved MP4",
        request=PublishRequestSerializer,
        parameters=[
            OpenApiParameter(
                "Prefer",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="`respond-async`: answer 202 at once; `wait=N`: wait at most N seconds for the job.",
            ),
            OpenApiParameter(
                idempotency.HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description=(
                    "Any unique string (a UUID) of at most 255 characters: a retry with the same key and body within "
                    "24 h is answered from the job the first request started (no second download); the same key with "
                    "another body is refused with 422 `idempotency_key_reused`. Keys are per caller."
                ),
            ),
        ],
        responses={
            201: OpenApiResponse(PublishResponseSerializer, description="Published."),
            202: OpenApiResponse(JobResponseSerializer, description="Still running: follow `Location`."),
            **error_responses(
                *(
                    code
                    for code in ERRORS
                    if code not in ("record_not_found", "job_not_found", "not_found", "unknown_tool")
                ),
            ),
        },
    )
    def post(self, request):
        caller = str(request.user)

        def start() -> PublishJob:
            return dispatch.start(request.data, source=PublishJob.Source.API, caller=caller)

        key = request.headers.get(idempotency.HEADER)
        try:
            job = start() if key is None else idempotency.job_for(key, caller, request.data, start)
        except PublishError as error:
            return error_response(error)
        seconds, applied = wait_preference(request.headers.get("Prefer", ""))
        job = dispatch.wait(job, seconds)
        if job.is_active:
            headers = {"Location": job.status_url, **({"Preference-Applied": applied} if applied else {})}
            return Response(job_body(job), status=status.HTTP_202_ACCEPTED, headers=headers)
        try:
            record = dispatch.outcome(job)
        except PublishError as error:
            return error_response(error)
        return Response({"distribution_record": record}, status=status.HTTP_201_CREATED)


class JobView(APIView):
    permission_classes = [CanPublish]

    @extend_schema(
        operation_id="get_job",
        summary="A publish job's state, record or error",
        responses={
            200: JobResponseSerializer,
            **error_responses("job_not_found", *AUTH_ERRORS),
        },
    )
    def get(self, request, job_id: int):
        try:
            return Response(job_body(dispatch.get_job(job_id)))
        except PublishError as error:
            return error_response(error)


AUDIT_LOG_ID_PATH = OpenApiParameter(
    "audit_log_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The record's audit_log_id."
)
RECORD_ERRORS = ("record_not_found", "cms_auth_failed", "cms_unavailable", "cms_read_failed", "cms_bad_response")


class RecordView(APIView):
    """One published record, read from PayloadCMS; DELETE unpublishes it."""

    parser_classes = [BoundedJSONParser]

    def get_permissions(self):
        return [CanUnpublish()] if self.request.method == "DELETE" else [CanPublish()]

    @extend_schema(
        operation_id="get_record",
        summary="A distribution record, as PayloadCMS has it",
        parameters=[AUDIT_LOG_ID_PATH],
        responses={200: PublishResponseSerializer, **error_responses(*RECORD_ERRORS, *AUTH_ERRORS)},
    )
    def get(self, request, audit_log_id: str):
        try:
            return Response({"distribution_record": distribution_record(cms_record(audit_log_id))})
        except PublishError as error:
            return error_response(error)

    @extend_schema(
        operation_id="unpublish",
        summary="Take a video down: its file deleted, the record kept as a tombstone",
        description=(
            "Deletes the media document and its file in PayloadCMS (local disk or bucket): every link given out "
            "stops serving. The record stays with `public_url` null and `unpublished_at` set. Idempotent: "
            "unpublishing again answers the same tombstone. A publish of the same `audit_log_id` publishes it "
            "again. Needs the `distribution.unpublish` permission. `reason` comes in the JSON body or the query."
        ),
        parameters=[
            AUDIT_LOG_ID_PATH,
            OpenApiParameter("reason", OpenApiTypes.STR, OpenApiParameter.QUERY, description="Why (kept)."),
        ],
        request=UnpublishRequestSerializer,
        responses={
            200: PublishResponseSerializer,
            **error_responses(
                "invalid_request", "publish_in_progress", "cms_record_failed", *RECORD_ERRORS, *AUTH_ERRORS
            ),
        },
    )
    def delete(self, request, audit_log_id: str):
        given = request.data if isinstance(request.data, dict) and request.data else request.query_params
        body = UnpublishRequestSerializer(data={"reason": given.get("reason", "")})
        if not body.is_valid():
            return error_response(PublishError("invalid_request", "Invalid request.", fields=body.errors))
        try:
            record = links.unpublish(audit_log_id, body.validated_data["reason"], caller=str(request.user))
        except PublishError as error:
            return error_response(error)
        return Response({"distribution_record": record})


class RecordLinkView(APIView):
    """Renew a record's download link: a fresh public_url and expires_at, no transfer."""

    parser_classes = [BoundedJSONParser]
    permission_classes = [CanPublish]

    @extend_schema(
        operation_id="renew_link",
        summary="Renew a record's download link (no byte moves)",
        description=(
            "PayloadCMS signs a fresh link to the file it holds, valid `url_expiry_hours` (omitted: the record's own "
            "lifetime); the record keeps the new lifetime. Nothing is downloaded or uploaded."
        ),
        parameters=[AUDIT_LOG_ID_PATH],
        request=RenewLinkRequestSerializer,
        responses={
            200: PublishResponseSerializer,
            **error_responses(
                "invalid_request",
                "parse_error",
                "record_unpublished",
                "cms_record_failed",
                "invalid_public_url",
                *RECORD_ERRORS,
                *AUTH_ERRORS,
            ),
        },
    )
    def post(self, request, audit_log_id: str):
        body = RenewLinkRequestSerializer(data=request.data if isinstance(request.data, dict) else {})
        if not body.is_valid():
            error = PublishError("invalid_request", "Invalid request.", fields=body.errors)
            error.audit_log_id = audit_log_id
            return error_response(error)
        try:
            record = links.renew_link(
                audit_log_id, body.validated_data.get("url_expiry_hours"), caller=str(request.user)
            )
        except PublishError as error:
            return error_response(error)
        return Response({"distribution_record": record})


class RecordListView(APIView):
    """The published records, oldest first, a page at a time."""

    permission_classes = [CanPublish]

    @extend_schema(
        operation_id="list_records",
        summary="List distribution records (cursor pagination)",
        description=(
            "Records in the order PayloadCMS created them. Follow `next` (null on the last page): paging while "
            "others publish repeats and skips no record; records created meanwhile appear on later pages."
        ),
        parameters=[RecordListQuerySerializer],
        responses={
            200: RecordListSerializer,
            **error_responses("invalid_request", *RECORD_ERRORS[1:], *AUTH_ERRORS),
        },
    )
    def get(self, request):
        given = RecordListQuerySerializer(data=request.query_params)
        if not given.is_valid():
            return error_response(PublishError("invalid_request", "Invalid request.", fields=given.errors))
        options = given.validated_data
        query = catalog.RecordQuery(
            project_id=options.get("project_id") or None,
            published_after=options.get("published_after"),
            include_unpublished=options["include_unpublished"],
            limit=options["limit"],
        )
        try:
            page = catalog.list_records(query, options.get("cursor") or None)
        except PublishError as error:
            return error_response(error)
        next_url = None
        if page.next_cursor:
            params = {key: value for key, value in request.query_params.items() if key != "cursor"}
            next_url = request.build_absolute_uri(f"{request.path}?{urlencode({**params, 'cursor': page.next_cursor})}")
        return Response({"results": page.records, "next": next_url})


class JobCancelView(APIView):
    permission_classes = [CanCancel]

    @extend_schema(
        operation_id="cancel_job",
        summary="Cancel a queued or running publish job",
        description=(
            "A queued job fails at once; a running one stops at its next piece of the asset, what it uploaded is "
            "removed, and it ends `failed` with the code `cancelled` (its audit event and callback are sent). "
            f"Answers the job once it has ended, or after {dispatch.CANCEL_WAIT_SECONDS:.0f} s with it still running."
        ),
        request=None,
        responses={
            200: JobResponseSerializer,
            **error_responses("job_not_found", "job_ended", *AUTH_ERRORS),
        },
    )
    def post(self, request, job_id: int):
        try:
            return Response(job_body(dispatch.cancel(job_id, requested_by=str(request.user))))
        except PublishError as error:
            return error_response(error)


def wait_preference(prefer: str) -> tuple[float, str | None]:
    """How long to wait, from RFC 7240 `Prefer`: respond-async answers at once, wait=N caps the wait."""
    limit = dispatch.sync_wait_seconds()
    if "respond-async" in prefer.lower():
        return 0, "respond-async"
    match = _PREFER_WAIT.search(prefer)
    if match:
        return min(limit, int(match.group(1))), f"wait={match.group(1)}"
    return limit, None


def error_response(error: PublishError) -> Response:
    return Response({"error": error.as_dict()}, status=error.http_status)


def error_handler(exc, context):
    """DRF's own refusals (401, 403, 413, 415, ...) in the same error shape as the pipeline's."""
    if isinstance(exc, RequestDataTooBig):  # Django's own body limit, e.g. on form bodies
        exc = RequestTooLarge()
    response = exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "")
        if code not in ERRORS:  # a DRF refusal the contract does not name: the plain code of its status
            code = CODE_OF_STATUS.get(response.status_code, "bad_request")
        response.data = error_body(code, str(getattr(exc, "detail", exc)))
    return response
