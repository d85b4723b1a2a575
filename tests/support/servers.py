"""Real HTTP servers on 127.0.0.1 for the tests: an asset host and a PayloadCMS double.

Both run in a background thread of the test process and speak plain HTTP/1.1,
so the pipeline under test goes through httpx, sockets and all.
"""

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit


@dataclass
class Route:
    status: int = 200
    body: bytes | Callable[[], Iterable[bytes]] = b""
    content_type: str = "video/mp4"
    declare_length: bool = True
    location: str | None = None  # sent as the Location header (redirects)
    length: int | None = None  # a callable body's Content-Length; without it the body is sent chunked


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()
        self.connections_accepted = 0

    def process_request(self, request, client_address):
        self.open_connections.add(request)
        self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        """Clients hanging up early is expected."""

    def server_close(self):
        """Closes the kept-alive connections too, as a server that stops does: a client's pool must not send
        a later test's request to this server's handlers (its port may be a later server's)."""
        super().server_close()
        for connection in list(self.open_connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class LocalServer:
    """Start a ThreadingHTTPServer on a free port; `handle(handler)` does the work."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _dispatch(self):
                server.requests.append((self.command, self.path))
                server.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def send(handler, status: int, body: bytes, content_type: str = "application/json", headers=None) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


class AssetServer(LocalServer):
    """Serves registered routes; a callable body is streamed chunk by chunk."""

    def __init__(self):
        super().__init__()
        self.routes: dict[str, Route] = {}

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url + path

    def handle(self, handler):
        route = self.routes.get(urlsplit(handler.path).path)
        if route is None:
            return self.send(handler, 404, b"not found", "text/plain")
        if not callable(route.body):
            headers = {"Location": route.location} if route.location is not None else None
            return self.send(handler, route.status, route.body, route.content_type, headers)
        handler.send_response(route.status)
        handler.send_header("Content-Type", route.content_type)
        if route.length is not None:
            handler.send_header("Content-Length", str(route.length))
            handler.end_headers()
            for chunk in route.body():
                handler.wfile.write(chunk)
            handler.close_connection = True  # the body sent may be shorter or longer than declared
            return None
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in route.body():
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")


@dataclass
class CMSState:
    api_key: str
    media: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


DEFAULT_URL_EXPIRY_HOURS = 72


class PayloadDouble(LocalServer):
    """Just enough of PayloadCMS's REST API and distributionPlugin's endpoints for the pipeline.

    Find (signed-in only, like the closed catalog), delete, and the plugin's endpoints:
    `PUT /api/media/upsert` takes the raw file (chunked) and keeps it only if the whole body came
    and matches its checksum; `PUT /api/distributionRecords/upsert` takes the JSON record and, like
    Payload, sets `public_url` and `expires_at` itself: a signed link to
    `/api/media/download/<path>?expires=&signature=` valid `url_expiry_hours` (sent, else stored, else 72),
    which serves until `expires`, then 410 (unless `enforce_expiry` is off), and 403 when altered.
    `POST .../link` renews it, `POST .../unpublish` deletes the media document and file and keeps a
    tombstone. Its answers copy Payload's shapes ({"doc": ..., "created": ...}, {"docs": [...], "hasNextPage": ...},
    {"errors": [{"message": ...}]}); the integration tests prove them against a real Payload.
    """

    SIGNING_KEY = b"payload-double-signing-key"

    def __init__(self, api_key: str):
        super().__init__()
        self.state = CMSState(api_key=api_key)
        self.fail_next: dict[str, int] = {}
        # "METHOD collection" -> (status, raw body): the next such request gets this answer instead,
        # after a write has been applied (a CMS that stored the document but answered nonsense).
        self.garble_next: dict[str, tuple[int, bytes]] = {}
        self.aborted_uploads = 0
        # False: a link past its `expires` still serves (a CMS that does not enforce expiry).
        self.enforce_expiry = True

    def kept_nothing(self) -> bool:
        """No document and no file: what an aborted or refused publish must leave."""
        return not (self.state.media or self.state.records or self.state.files)

    def collection(self, name: str) -> list[dict]:
        return self.state.media if name == "media" else self.state.records

    def handle(self, handler):
        parts = urlsplit(handler.path)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if segments[:3] == ["api", "media", "download"]:
            return self._download(handler, "/".join(segments[3:]), parse_qs(parts.query))
        if len(segments) < 2 or segments[1] not in ("media", "distributionRecords"):
            return self.send(handler, 404, json.dumps({"errors": [{"message": "Not Found"}]}).encode())
        collection = segments[1]
        try:
            body = read_body(handler)  # read even when failing
        except ConnectionError:
            self.aborted_uploads += 1
            handler.close_connection = True
            return None
        failure = self.fail_next.pop(f"{handler.command} {collection}", None)
        if failure:
            return self.send(handler, failure, json.dumps({"errors": [{"message": "Injected failure"}]}).encode())
        if handler.headers.get("Authorization") != f"users API-Key {self.state.api_key}":
            message = {"errors": [{"message": "You are not allowed to perform this action."}]}
            return self.send(handler, 403, json.dumps(message).encode())
        if handler.command == "GET":
            garbled = self.garble_next.pop(f"GET {collection}", None)
            if garbled:
                return self.send(handler, *garbled)
            return self._find(handler, collection, parse_qs(parts.query))
        if collection == "distributionRecords" and segments[2:] in (["link"], ["unpublish"]):
            return self._record_action(handler, segments[2], json.loads(body))
        if handler.command == "DELETE":
            return self._delete(handler, collection, segments[2])
        if collection == "media":
            data = {key: values[0] for key, values in parse_qs(parts.query).items()}
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            if data.get("checksum") != digest:
                message = {"errors": [{"message": f"checksum mismatch: the body's digest is {digest}."}]}
                return self.send(handler, 422, json.dumps(message).encode())
            self.state.files[data["storage_path"]] = body
            data |= {
                "filename": data["storage_path"].rsplit("/", 1)[-1],
                "filesize": len(body),
                "url": f"/api/media/file/{data['storage_path']}",
            }
        else:
            data = json.loads(body)
            data.pop("public_url", None), data.pop("expires_at", None)  # Payload's own, whatever is sent
            if self.media_of(data.get("audit_log_id")) is None:
                message = {"errors": [{"message": "No media document for this audit_log_id."}]}
                return self.send(handler, 422, json.dumps(message).encode())
        docs = self.collection(collection)
        doc = next((d for d in docs if d.get("audit_log_id") == data.get("audit_log_id")), None)
        created = doc is None
        if doc is None:
            doc = {"id": max((d["id"] for d in docs), default=0) + 1}
            docs.append(doc)
        hours = data.get("url_expiry_hours")
        doc.update(data)
        if collection == "distributionRecords":
            doc.update(unpublished_at=None, unpublish_reason=None)
            self.sign(doc, hours)
        garbled = self.garble_next.pop(f"PUT {collection}", None)
        if garbled:
            return self.send(handler, *garbled)
        self.send(handler, 201 if created else 200, json.dumps({"doc": doc, "created": created}).encode())

    def media_of(self, audit_log_id) -> dict | None:
        return next((m for m in self.state.media if m.get("audit_log_id") == audit_log_id), None)

    def sign(self, record: dict, hours: float | None = None, *, signed_at: float | None = None) -> None:
        """Set the record's signed link for `hours` (else its own, else 72), as Payload's hook does.

        `signed_at` (a Unix time, default now) in the past makes a link that has already expired.
        """
        record["url_expiry_hours"] = hours if hours is not None else record.get("url_expiry_hours")
        lifetime = round((record["url_expiry_hours"] or DEFAULT_URL_EXPIRY_HOURS) * 3600)
        expires = int(time.time() if signed_at is None else signed_at) + lifetime
        path = record["storage_path"]
        query = urlencode({"expires": expires, "signature": self._signature(path, expires)})
        record["public_url"] = f"{self.url}/api/media/download/{path}?{query}"
        record["expires_at"] = (
            datetime.fromtimestamp(expires, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )

    def _signature(self, path: str, expires: int) -> str:
        media = self.media_of(path.rsplit("/", 1)[-1].removesuffix(".mp4")) or {}
        message = f"{path}\n{expires}\n{media.get('id')}"
        return hmac.new(self.SIGNING_KEY, message.encode(), hashlib.sha256).hexdigest()

    def _download(self, handler, path: str, query: dict):
        expires, signature = query.get("expires", [""])[0], query.get("signature", [""])[0]
        if not expires.isdigit() or not hmac.compare_digest(signature, self._signature(path, int(expires))):
            return self.send(handler, 403, b"Forbidden", "text/plain")
        body = self.state.files.get(path)
        if body is None or (self.enforce_expiry and int(expires) <= time.time()):
            return self.send(handler, 410, b"Gone", "text/plain")
        return self.send(handler, 200, body, "video/mp4")

    def _record_action(self, handler, action: str, data: dict):
        """The plugin's POST /api/distributionRecords/link and /unpublish."""
        record = next((r for r in self.state.records if r.get("audit_log_id") == data.get("audit_log_id")), None)
        if record is None:
            return self.send(handler, 404, json.dumps({"errors": [{"message": "No such record."}]}).encode())
        if action == "link":
            if record.get("unpublished_at"):
                message = {"errors": [{"message": "The record is unpublished."}]}
                return self.send(handler, 409, json.dumps(message).encode())
            self.sign(record, data.get("url_expiry_hours"))
        elif not record.get("unpublished_at"):
            media = self.media_of(record["audit_log_id"])
            if media is not None:
                self.state.media.remove(media)
                self.state.files.pop(str(media.get("storage_path")), None)
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            record.update(public_url=None, expires_at=None, unpublished_at=now, unpublish_reason=data.get("reason"))
        self.send(handler, 200, json.dumps({"doc": record}).encode())

    def _delete(self, handler, collection: str, doc_id: str):
        """Like Payload: the document goes, and for media its file with it."""
        docs = self.collection(collection)
        doc = next((d for d in docs if str(d["id"]) == doc_id), None)
        if doc is None:
            return self.send(handler, 404, json.dumps({"errors": [{"message": "Not Found"}]}).encode())
        docs.remove(doc)
        if collection == "media":
            self.state.files.pop(str(doc.get("storage_path")), None)
        self.send(handler, 200, json.dumps({"doc": doc, "message": "deleted"}).encode())

    def _find(self, handler, collection, query):
        """Payload's where queries as the client sends them: equals / greater_than(_equal) / exists, ANDed."""
        limit, page = int(query.get("limit", ["10"])[0]), int(query.get("page", ["1"])[0])
        conditions = [
            (key.rsplit("[", 2)[-2].rstrip("]"), key.rsplit("[", 1)[-1].rstrip("]"), values[0])
            for key, values in query.items()
            if key.startswith("where[")
        ]
        docs = [d for d in self.collection(collection) if all(_matches(d, *c) for c in conditions)]
        if query.get("sort", [""])[0] == "id":
            docs.sort(key=lambda d: d["id"])
        page_docs = docs[(page - 1) * limit : page * limit]
        body = {"docs": page_docs, "totalDocs": len(docs), "hasNextPage": page * limit < len(docs), "page": page}
        self.send(handler, 200, json.dumps(body).encode())


def _matches(doc: dict, field: str, operator: str, value: str) -> bool:
    have = doc.get(field)
    if operator == "exists":
        return (have is not None) == (value == "true")
    if have is None:
        return False
    if operator == "equals":
        return str(have) == value
    wanted = int(value) if isinstance(have, int) else value  # ids compare as numbers, ISO dates as text
    return have > wanted if operator == "greater_than" else have >= wanted


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, sized or chunked; ConnectionError if the client hangs up before its end."""
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("request body cut short")
        return body
    pieces: list[bytes] = []
    while True:
        size_line = handler.rfile.readline()
        if not size_line.strip():
            raise ConnectionError("request body cut short")
        size = int(size_line.split(b";")[0], 16)
        piece = handler.rfile.read(size + 2)
        if len(piece) < size + 2:
            raise ConnectionError("request body cut short")
        if size == 0:
            return b"".join(pieces)
        pieces.append(piece[:size])
