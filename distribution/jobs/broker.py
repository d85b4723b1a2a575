"""The embedded broker: kombu's filesystem transport, with files that appear whole.

kombu creates a message file under its final name and only then writes it, so a worker polling
the folder can claim the file while it is still empty and fail to decode it: seen with 8
publishes submitted at once, the worker died and the job stayed queued until `not_started`.
It creates an exchange's routing table the same way, so a process publishing while another
declares the queue can read it empty. Here both are written under a name nothing reads and
then moved into place (rename, or link for the table, which another process may be creating
too), atomic on one filesystem. config/celery.py makes `filesystem://` mean this transport.
"""

import os
import time
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL_SUFFIX = ".part"  # "<...>.<queue>.msg.part" is not "<queue>.msg": workers skip it


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):  # type: ignore[override]  # as kombu.transport.filesystem has it
        name = os.path.join(self.data_folder_out, f"{time.monotonic() * 1000:.0f}_{uuid.uuid4()}.{queue}.msg")
        partial = name + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, name)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        table = self._exchange_file(exchange)
        if not table.exists():
            self.control_folder.mkdir(exist_ok=True)
            partial = table.with_name(f"{table.name}.{uuid.uuid4()}{PARTIAL_SUFFIX}")
            binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            partial.write_bytes(str_to_bytes(dumps([binding])))
            try:
                os.link(partial, table)  # fails if another process created the table meanwhile
                return
            except FileExistsError:
                pass  # then add to it under its lock, as kombu does
            finally:
                partial.unlink()
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    Channel = Channel
