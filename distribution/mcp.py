"""The Distribution MCP tools: publish, dry-run, and the records (read, list, renew a link, unpublish).

Same contract as the REST endpoint: the input schema is the publish request, the
structured output is the `distribution_record`, and refusals come back as tool errors
carrying the REST error body ({"error": {"code", "message", "audit_log_id"}}).
Input is validated by the publish service (not by the SDK) so error codes match REST.
"""

import contextlib
import json
import re
from typing import Any

import uvicorn
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.routing import Mount

from distribution.api.serializers import component_schema, openapi_document
from distribution.errors import PublishError
from distribution.jobs import dispatch
from distribution.jobs.bodies import job_body
from distribution.jobs.runner import publish
from distribution.models import PublishJob
from distribution.publishing import catalog, links
from distribution.publishing.links import MAX_REASON_LENGTH
from distribution.publishing.plan import AUDIT_LOG_ID_PATTERN
from distribution.publishing.republish import find_record
from distribution.records import moment


def tools() -> list[types.Tool]:
    """The tools, their schemas generated from the REST API's serializers (contract.component_schema)."""
    request = component_schema("PublishRequest")
    record = component_schema("DistributionRecord")
    job = component_schema("JobResponse")
    listing = component_schema("RecordList")
    renew = component_schema("RenewLinkRequest")
    list_query = {
        parameter["name"]: {**parameter["schema"], "description": parameter.get("description", "")}
        for parameter in openapi_document()["paths"]["/api/distribution/records"]["get"]["parameters"]
    }
    list_query["cursor"]["description"] = "The previous answer's `cursor`."
    lookup: dict[str, Any] = {
        "type": "object",
        "properties": {
            "audit_log_id": {
                "type": "string",
                "pattern": request["properties"]["audit_log_id"]["pattern"],
                "description": "The audit_log_id a publish returned, e.g. dist_01KAXQ3V9Y8WJ6N0D2S4T7R5PC.",
            }
        },
        "required": ["audit_log_id"],
    }
    job_id = {
        "type": "object",
        "properties": {"job_id": {"type": "integer", "minimum": 1, "description": "The job id a publish returned."}},
        "required": ["job_id"],
    }
    return [
        types.Tool(
            name="distribution_publish",
            description=(
                "Publish a QC-approved MP4 to PayloadCMS and return its distribution_record. A publish still running "
                "after the server's wait (DISTRIBUTION_SYNC_WAIT_SECONDS) returns {'job': {...}} instead: follow it "
                "with distribution_get_job."
            ),
            inputSchema=request,
            outputSchema={"type": "object", "anyOf": [record, job]},
        ),
        types.Tool(
            name="distribution_dry_run",
            description=(
                "Validate, download and verify the MP4 and return the record a publish would write. No side effects."
            ),
            inputSchema=request,
            outputSchema=record,
        ),
        types.Tool(
            name="distribution_get_record",
            description="Look up a published distribution_record by audit_log_id.",
            inputSchema=lookup,
            outputSchema=record,
        ),
        types.Tool(
            name="distribution_list_records",
            description=(
                "List published distribution records, oldest first, a page at a time: pass the answer's `cursor` "
                "(null on the last page) to get the next. Paging while others publish repeats and skips nothing."
            ),
            inputSchema={"type": "object", "properties": list_query},
            outputSchema={
                "type": "object",
                "properties": {
                    "results": listing["properties"]["results"],
                    "cursor": {"type": ["string", "null"], "description": "The next page's cursor; null: last page."},
                },
                "required": ["results", "cursor"],
            },
        ),
        types.Tool(
            name="distribution_renew_link",
            description=(
                "Have PayloadCMS sign a fresh download link for a published record, valid url_expiry_hours (omitted: "
                "the record's own lifetime). No byte moves. Returns the updated distribution_record."
            ),
            inputSchema={
                "type": "object",
                "properties": {**lookup["properties"], **renew["properties"]},
                "required": ["audit_log_id"],
            },
            outputSchema=record,
        ),
        types.Tool(
            name="distribution_unpublish",
            description=(
                "Take a video down: PayloadCMS deletes its file and every link given out stops serving; the record "
                "stays as a tombstone (public_url null, unpublished_at set). Idempotent. Returns the record."
            ),
            inputSchema={
                "type": "object",
                "properties": {
                    **lookup["properties"],
                    "reason": {"type": "string", "maxLength": MAX_REASON_LENGTH, "description": "Why (kept)."},
                },
                "required": ["audit_log_id"],
            },
            outputSchema=record,
        ),
        types.Tool(
            name="distribution_get_job",
            description="A publish job's state, stage, progress and, once ended, its distribution_record or error.",
            inputSchema=job_id,
            outputSchema=job,
        ),
        types.Tool(
            name="distribution_cancel_job",
            description=(
                "Cancel a queued or running publish job: it stops at its next piece, what it uploaded is removed and "
                "it ends failed with the code cancelled. Returns the job once ended (or still running after 10 s); "
                "a job that has already ended is refused with job_ended."
            ),
            inputSchema=job_id,
            outputSchema=job,
        ),
    ]


def run_tool(name: str, arguments: dict) -> dict:
    """Run one tool synchronously (ORM and httpx); raise PublishError on refusal."""
    if name == "distribution_publish":
        job = dispatch.start(arguments, source=PublishJob.Source.MCP, caller="mcp")
        job = dispatch.wait(job, dispatch.sync_wait_seconds())
        return job_body(job) if job.is_active else dispatch.outcome(job)
    if name == "distribution_get_job":
        return job_body(dispatch.get_job(arguments.get("job_id")))
    if name == "distribution_cancel_job":
        return job_body(dispatch.cancel(arguments.get("job_id"), requested_by="mcp"))
    if name == "distribution_dry_run":
        return publish(arguments, source=PublishJob.Source.MCP, dry_run=True).distribution_record
    if name == "distribution_get_record":
        return find_record(_audit_log_id(arguments)).as_distribution_record()
    if name == "distribution_list_records":
        page = catalog.list_records(_record_query(arguments), arguments.get("cursor") or None)
        return {"results": page.records, "cursor": page.next_cursor}
    if name == "distribution_renew_link":
        return links.renew_link(_audit_log_id(arguments), arguments.get("url_expiry_hours"), caller="mcp")
    if name == "distribution_unpublish":
        reason = arguments.get("reason") or ""
        if not isinstance(reason, str):
            raise PublishError("invalid_request", "Invalid request.", fields={"reason": ["Expected text."]})
        return links.unpublish(_audit_log_id(arguments), reason, caller="mcp")
    raise PublishError("unknown_tool", f"No tool named {name!r}.")


def _record_query(arguments: dict) -> catalog.RecordQuery:
    """The listing's arguments, checked as the REST query is."""
    errors: dict[str, list[str]] = {}
    project_id = arguments.get("project_id")
    if project_id is not None and not isinstance(project_id, str):
        errors["project_id"] = ["Expected text."]
    published_after = None
    if arguments.get("published_after") is not None:
        try:
            published_after = moment(arguments["published_after"])
        except (TypeError, ValueError):
            published_after = None
        if published_after is None or published_after.tzinfo is None:
            errors["published_after"] = ["Expected an ISO 8601 date-time with a time zone."]
    include_unpublished = arguments.get("include_unpublished", False)
    if not isinstance(include_unpublished, bool):
        errors["include_unpublished"] = ["Expected true or false."]
    limit = arguments.get("limit", catalog.DEFAULT_PAGE_SIZE)
    if isinstance(limit, bool) or not isinstance(limit, int):
        errors["limit"] = ["Expected a whole number."]
    if errors:
        raise PublishError("invalid_request", "Invalid request.", fields=errors)
    return catalog.RecordQuery(project_id or None, published_after, include_unpublished, limit)


def _audit_log_id(arguments: dict) -> str:
    audit_log_id = arguments.get("audit_log_id")
    if not isinstance(audit_log_id, str) or not re.fullmatch(AUDIT_LOG_ID_PATTERN, audit_log_id):
        raise PublishError(
            "invalid_request",
            "Invalid request.",
            fields={"audit_log_id": ["Expected an audit_log_id such as dist_01KAXQ3V9Y8WJ6N0D2S4T7R5PC."]},
        )
    return audit_log_id


def _run_with_fresh_connections(name: str, arguments: dict) -> dict:
    """run_tool between Django's connection housekeeping, as a request would be: the server runs for days."""
    close_old_connections()
    try:
        return run_tool(name, arguments)
    finally:
        close_old_connections()


def build_server() -> Server:
    server = Server("distribution")

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return tools()

    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict):
        try:
            # Own threads, so a call waiting for its job does not hold up the others.
            return await sync_to_async(_run_with_fresh_connections, thread_sensitive=False)(name, arguments or {})
        except PublishError as error:
            body = json.dumps({"error": error.as_dict()})
            return types.CallToolResult(isError=True, content=[types.TextContent(type="text", text=body)])

    return server


async def serve_stdio() -> None:
    server = build_server()
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_http(host: str, port: int) -> None:
    """Streamable HTTP transport at http://<host>:<port>/mcp."""
    manager = StreamableHTTPSessionManager(app=build_server(), stateless=True)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with manager.run():
            yield

    app = Starlette(routes=[Mount("/mcp", app=manager.handle_request)], lifespan=lifespan)
    await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()
