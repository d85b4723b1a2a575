"""The embedded broker (distribution/jobs/broker.py): a worker never claims a message file before it is whole."""

import threading

import pytest
from kombu import Connection

import config.celery  # noqa: F401  (makes filesystem:// mean the project's transport)
from distribution.jobs.broker import Transport


@pytest.fixture
def queue_folder(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    return folder


def connection(folder) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder.parent / "control"),
        "polling_interval": 0,
    }
    return Connection("filesystem://", transport_options=options)


def test_filesystem_urls_use_the_project_transport(queue_folder):
    with connection(queue_folder) as conn:
        assert isinstance(conn.transport, Transport)


def test_messages_read_while_others_are_written_are_always_whole(queue_folder):
    """A writer and a reader on the same folder at full speed: every message arrives, decoded, once."""
    count, body = 400, {"job": "x" * 20_000}  # large enough that a write is not instant
    received: list[int] = []
    errors: list[Exception] = []

    def write():
        with connection(queue_folder) as conn:
            queue = conn.SimpleQueue("publish")
            for number in range(count):
                queue.put({**body, "number": number})

    def read():
        with connection(queue_folder) as conn:
            queue = conn.SimpleQueue("publish")
            while len(received) < count:
                try:
                    message = queue.get(timeout=10)
                except Exception as exc:  # an empty file fails to decode here
                    errors.append(exc)
                    return
                received.append(message.payload["number"])
                message.ack()

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(received) == list(range(count))
    assert list(queue_folder.iterdir()) == []  # no partial file left behind
