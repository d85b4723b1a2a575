"""The MCP server as an agent uses it: the SDK's client starts `manage.py mcp_server` as a subprocess."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from distribution.api.serializers import component_schema
from tests.support.processes import free_port
from tests.support.samples import CMS_API_KEY, SAMPLE_CHECKSUM, SAMPLE_MP4, publish_request
from tests.support.servers import Route

ROOT = Path(__file__).resolve().parent.parent
TOOL_NAMES = {
    "distribution_publish",
    "distribution_dry_run",
    "distribution_get_record",
    "distribution_get_job",
    "distribution_list_records",
    "distribution_renew_link",
    "distribution_unpublish",
    "distribution_cancel_job",
}


@pytest.fixture
def server_env(tmp_path, cms):
    """Environment of an MCP server process wired to the CMS double, with a migrated database."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PAYLOADCMS_URL": cms.url,
        "PAYLOADCMS_API_KEY": CMS_API_KEY,
        "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
        "CELERY_TASK_ALWAYS_EAGER": "true",  # jobs run in the server process (tests/test_workers.py has real workers)
        "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",  # the asset server is on 127.0.0.1
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return env


@asynccontextmanager
async def stdio_session(env):
    params = StdioServerParameters(command=sys.executable, args=["manage.py", "mcp_server"], env=env, cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def run(env, scenario):
    async def main():
        async with stdio_session(env) as session:
            return await scenario(session)

    return anyio.run(main)


def error_of(result) -> dict:
    assert result.isError
    return json.loads(result.content[0].text)["error"]


def test_tools_are_listed_with_their_schemas(server_env):
    """The schemas a client receives are the OpenAPI components, generated from the REST serializers."""
    tools = {tool.name: tool for tool in run(server_env, lambda s: s.list_tools()).tools}

    assert set(tools) == TOOL_NAMES
    request, record = component_schema("PublishRequest"), component_schema("DistributionRecord")
    job = component_schema("JobResponse")
    for name in ("distribution_publish", "distribution_dry_run"):
        assert tools[name].inputSchema == request
    for name in ("distribution_dry_run", "distribution_get_record"):
        assert tools[name].outputSchema == record
    # a publish answers the record, or the job when it still runs after the server's wait
    assert tools["distribution_publish"].outputSchema == {"type": "object", "anyOf": [record, job]}
    assert tools["distribution_get_job"].outputSchema == job
    assert tools["distribution_get_job"].inputSchema["required"] == ["job_id"]
    assert request["required"] == ["final_edit", "qc_report"]
    assert request["properties"]["final_edit"]["properties"]["checksum"]["pattern"] == r"^sha256:[0-9a-fA-F]{64}$"
    assert "callback_url" in request["properties"]
    assert set(record["required"]) == {
        "storage_location",
        "public_url",
        "expires_at",
        "url_expiry_hours",
        "published_at",
        "unpublished_at",
        "unpublish_reason",
        "metadata",
        "audit_log_id",
    }
    lookup = tools["distribution_get_record"].inputSchema
    assert lookup["required"] == ["audit_log_id"]
    assert lookup["properties"]["audit_log_id"]["pattern"] == request["properties"]["audit_log_id"]["pattern"]
    assert all(tool.description for tool in tools.values())


def test_concurrent_publishes_wait_side_by_side(server_env, cms, asset_server):
    """Two agents' publishes of slow assets run side by side: each download starts before the other ends."""
    pieces = [SAMPLE_MP4[i : i + 320] for i in range(0, len(SAMPLE_MP4), 320)]
    served: dict[str, list[float]] = {}

    def two_seconds(name):
        def body():
            served[name] = [time.monotonic()]
            for piece in pieces:
                time.sleep(0.2)
                yield piece
            served[name].append(time.monotonic())

        return body

    urls = {name: asset_server.add(f"/slow-{name}.mp4", Route(body=two_seconds(name))) for name in ("a", "b")}

    async def scenario(session):
        results = {}

        async def call(name):
            results[name] = await session.call_tool(
                "distribution_publish", publish_request(urls[name], audit_log_id=f"dist_side_{name}")
            )

        async with anyio.create_task_group() as group:
            group.start_soon(call, "a")
            group.start_soon(call, "b")
        return results

    results = run(server_env, scenario)

    assert all(not result.isError for result in results.values())
    assert {r["audit_log_id"] for r in cms.state.records} == {"dist_side_a", "dist_side_b"}
    (a_start, a_end), (b_start, b_end) = served["a"], served["b"]
    assert max(a_start, b_start) < min(a_end, b_end), served  # one after the other would not overlap


def test_publish_then_get_record(server_env, cms, asset_server):
    body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_mcp")

    async def scenario(session):
        published = await session.call_tool("distribution_publish", body)
        found = await session.call_tool("distribution_get_record", {"audit_log_id": "dist_mcp"})
        return published, found

    published, found = run(server_env, scenario)

    assert not published.isError
    record = published.structuredContent
    assert record["storage_location"] == "payloadcms://media/concept-42/mvp/dist_mcp.mp4"
    assert record["metadata"]["checksum"] == SAMPLE_CHECKSUM
    assert json.loads(published.content[0].text) == record
    assert [m["audit_log_id"] for m in cms.state.media] == ["dist_mcp"]
    assert [r["audit_log_id"] for r in cms.state.records] == ["dist_mcp"]
    assert found.structuredContent["public_url"] == record["public_url"]
    assert found.structuredContent["storage_location"] == record["storage_location"]


def test_publish_is_a_job_readable_with_get_job(server_env, cms, asset_server, tmp_path):
    body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_mcp_job")

    async def scenario(session):
        published = await session.call_tool("distribution_publish", body)
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            [(job_id,)] = db.execute("SELECT id FROM distribution_publishjob").fetchall()
        return published, await session.call_tool("distribution_get_job", {"job_id": job_id}), job_id

    published, found, job_id = run(server_env, scenario)

    job = found.structuredContent["job"]
    assert not found.isError and job["id"] == job_id and job["status_url"] == f"/api/distribution/jobs/{job_id}"
    assert (job["status"], job["source"], job["caller"]) == ("published", "mcp", "mcp")
    assert job["distribution_record"] == published.structuredContent


def test_get_job_of_an_unknown_id_is_job_not_found(server_env):
    result = run(server_env, lambda s: s.call_tool("distribution_get_job", {"job_id": 424242}))
    assert error_of(result)["code"] == "job_not_found"


def test_publish_of_an_active_id_is_409_with_no_side_effect(server_env, cms, asset_server):
    running = (
        "from django.utils import timezone; from distribution.models import PublishJob; "
        "PublishJob.objects.create(audit_log_id='dist_busy', status='running', started_at=timezone.now())"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", running], cwd=ROOT, env=server_env, check=True)
    body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_busy")

    error = error_of(run(server_env, lambda s: s.call_tool("distribution_publish", body)))

    assert (error["code"], error["audit_log_id"], error["job_id"]) == ("publish_in_progress", "dist_busy", 1)
    assert error["status_url"] == "/api/distribution/jobs/1"
    assert asset_server.requests == [] and cms.requests == []


def test_get_record_reads_payloadcms_when_the_mirror_lacks_it(server_env, cms):
    cms.state.records.append(
        {
            "id": 1,
            "audit_log_id": "dist_cms_only",
            "project_id": "proj-7",
            "title": "Launch teaser",
            "duration_seconds": 9.7,
            "checksum": SAMPLE_CHECKSUM,
            "tags": ["teaser"],
            "storage_path": "proj-7/mvp/dist_cms_only.mp4",
            "public_url": "https://media.example.com/proj-7/mvp/dist_cms_only.mp4",
            "expires_at": "2026-11-28T12:00:00Z",
            "url_expiry_hours": 72,
            "published_at": "2026-11-25T12:00:00Z",
            "metadata": {},
        }
    )
    result = run(server_env, lambda s: s.call_tool("distribution_get_record", {"audit_log_id": "dist_cms_only"}))

    assert not result.isError
    assert result.structuredContent == {
        "storage_location": "payloadcms://media/proj-7/mvp/dist_cms_only.mp4",
        "public_url": "https://media.example.com/proj-7/mvp/dist_cms_only.mp4",
        "expires_at": "2026-11-28T12:00:00Z",
        "url_expiry_hours": 72,
        "published_at": "2026-11-25T12:00:00Z",
        "unpublished_at": None,
        "unpublish_reason": None,
        "metadata": {
            "title": "Launch teaser",
            "duration_seconds": 9.7,
            "checksum": SAMPLE_CHECKSUM,
            "tags": ["teaser"],
        },
        "audit_log_id": "dist_cms_only",
    }


def test_dry_run_has_no_side_effect(server_env, cms, asset_server):
    body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_dry")
    result = run(server_env, lambda s: s.call_tool("distribution_dry_run", body))

    assert not result.isError
    assert result.structuredContent["storage_location"] == "payloadcms://media/concept-42/mvp/dist_dry.mp4"
    assert result.structuredContent["public_url"] is None
    assert cms.requests == []
    assert asset_server.requests == [("GET", "/sample.mp4")]


def test_errors_carry_the_rest_codes(server_env, cms, asset_server):
    url = asset_server.url + "/sample.mp4"
    mismatch = publish_request(url)
    mismatch["final_edit"]["checksum"] = "sha256:" + "0" * 64

    async def scenario(session):
        qc = await session.call_tool("distribution_publish", publish_request(url, qc_report={"status": "fail"}))
        requests_after_qc = len(asset_server.requests) + len(cms.requests)
        return requests_after_qc, [
            qc,
            await session.call_tool("distribution_publish", mismatch),
            await session.call_tool("distribution_publish", {"final_edit": {}}),
            await session.call_tool("distribution_get_record", {"audit_log_id": "dist_unknown"}),
            await session.call_tool("distribution_get_record", {}),
        ]

    requests_after_qc, results = run(server_env, scenario)
    qc, checksum, invalid, missing, no_id = results

    assert error_of(qc) == {
        "code": "qc_not_passed",
        "message": "QC status is 'fail'; only 'pass' may be published.",
        "audit_log_id": None,
    }
    assert requests_after_qc == 0
    assert error_of(checksum)["code"] == "checksum_mismatch"
    assert error_of(invalid)["code"] == "invalid_request"
    assert "video_url" in error_of(invalid)["fields"]["final_edit"]
    assert error_of(missing) == {
        "code": "record_not_found",
        "message": "No distribution record 'dist_unknown'.",
        "audit_log_id": "dist_unknown",
    }
    assert error_of(no_id)["code"] == "invalid_request"
    assert "audit_log_id" in error_of(no_id)["fields"]
    assert asset_server.requests == [("GET", "/sample.mp4")]  # only the mismatch fetched
    assert cms.state.media == [] and cms.state.records == []
    assert all(CMS_API_KEY not in r.content[0].text and "Traceback" not in r.content[0].text for r in results)


def test_stdout_carries_only_the_protocol(server_env, tmp_path, cms, asset_server):
    """Logs and audit events go to stderr: any other line on stdout would corrupt the stdio channel."""
    body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_stdio")
    initialize = {
        "protocolVersion": types.LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "mcp_server"],
        cwd=ROOT,
        env=server_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    watchdog = threading.Timer(30, process.kill)  # a hung server ends the blocking reads below
    watchdog.start()

    stdin, stdout = process.stdin, process.stdout
    assert stdin and stdout

    def send(message):
        stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        stdin.flush()

    try:
        send({"id": 1, "method": "initialize", "params": initialize})
        lines = [stdout.readline()]
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/call", "params": {"name": "distribution_publish", "arguments": body}})
        lines.append(stdout.readline())
        rest, stderr = process.communicate()  # closes stdin: the server exits at end of input
    finally:
        watchdog.cancel()
    lines += rest.splitlines()
    assert process.returncode == 0

    messages = [types.JSONRPCResponse.model_validate_json(line) for line in lines]
    assert [message.id for message in messages] == [1, 2]
    assert messages[1].result["structuredContent"]["audit_log_id"] == "dist_stdio"
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [(e["audit_log_id"], e["status"]) for e in events] == [("dist_stdio", "published")]
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        attempts = db.execute("SELECT audit_log_id, source, status FROM distribution_publishjob").fetchall()
    assert attempts == [("dist_stdio", "mcp", "published")]


def test_streamable_http_transport(server_env):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "mcp_server", "--http", "--port", str(port)],
        cwd=ROOT,
        env=server_env,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        process.stderr.readline()  # the "listening at" line
        url = f"http://127.0.0.1:{port}/mcp/"

        async def main():
            for _ in range(100):
                try:
                    httpx.get(url, timeout=1)
                    break
                except httpx.TransportError:
                    await anyio.sleep(0.1)
            async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
                await session.initialize()
                return await session.list_tools()

        assert {tool.name for tool in anyio.run(main).tools} == TOOL_NAMES
    finally:
        process.terminate()
        process.wait(10)
