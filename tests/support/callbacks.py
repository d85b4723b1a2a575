"""A callback receiver on 127.0.0.1 and the check a receiver makes of the signature."""

import hashlib
import hmac

from tests.support.servers import LocalServer

SECRET = "callback-secret-for-tests"


class Receiver(LocalServer):
    """Answers each POST with the next status of `statuses` (then 204), recording headers and body."""

    def __init__(self, *statuses: int):
        super().__init__()
        self.statuses = list(statuses)
        self.received: list[tuple[dict, bytes]] = []

    def handle(self, handler):
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        self.received.append((dict(handler.headers), body))
        self.send(handler, self.statuses.pop(0) if self.statuses else 204, b"")


def verify(headers: dict, body: bytes, secret: str = SECRET) -> int:
    """What a receiver does (docs/api.md): check the signature over '<t>.<body>' and return t."""
    fields = dict(part.split("=", 1) for part in headers["Distribution-Signature"].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    return int(fields["t"])
