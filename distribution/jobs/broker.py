"""The embedded broker: kombu's filesystem transport, with message files that appear whole.

kombu creates a message file under its final name and only then writes it, so a worker polling
the folder can claim the file while it is still empty and fail to decode it: seen with 8
publishes submitted at once, the worker died and the job stayed queued until `not_started`.
Here a message is written under a name workers ignore and then renamed into place, which is
atomic on one filesystem. config/celery.py makes `filesystem://` mean this transport.
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


class Transport(filesystem.Transport):
    Channel = Channel
