"""The embedded broker (distribution/jobs/broker.py): a reader never sees a broker file before it is whole."""

import multiprocessing

import pytest
from kombu import Connection

import config.celery  # noqa: F401  (makes filesystem:// mean the project's transport)
from distribution.jobs.broker import Transport

COUNT, BODY = 400, {"job": "x" * 20_000}  # large enough that writing a message is not instant


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


def publish_all(folder) -> None:
    with connection(folder) as conn:
        queue = conn.SimpleQueue("publish")  # declares the binding: creates the exchange's table, or adds to it
        for number in range(COUNT):
            queue.put({**BODY, "number": number})


def test_messages_read_while_others_are_written_are_always_whole(queue_folder):
    """A publishing process (a web process) and a reading one (a worker) start on the same folders at once:
    every message arrives, decoded, once (kombu's own transport let either read a file still empty)."""
    publisher = multiprocessing.get_context("fork").Process(target=publish_all, args=(queue_folder,))
    publisher.start()
    received: list[int] = []
    with connection(queue_folder) as conn:
        queue = conn.SimpleQueue("publish")
        while len(received) < COUNT:
            message = queue.get(timeout=20)  # an empty file fails to decode here
            received.append(message.payload["number"])
            message.ack()
    publisher.join(60)
    assert publisher.exitcode == 0  # its reads of the exchange's table decoded too
    assert sorted(received) == list(range(COUNT))
    assert list(queue_folder.iterdir()) == []  # no partial file left behind
