"""Progress lines for management commands: drawn on a terminal, silent when piped or logged."""

import time

UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def _unit(amount: int) -> tuple[str, int]:
    """The largest unit `amount` reaches (KiB at least), so both numbers of a line share it."""
    return next(((name, size) for name, size in UNITS if amount >= size), UNITS[-1])


class TerminalProgress:
    """Redraws one line per stage on `stream` (stderr) at most every `interval` seconds."""

    def __init__(self, stream, interval: float = 0.2):
        self.stream = stream
        self.enabled = stream.isatty()
        self.interval = interval
        self._last_draw = 0.0
        self._stage: str | None = None

    def bytes(self, stage: str, done: int, total: int | None) -> None:
        """Callback for the publish service: progress(stage, bytes_done, bytes_total)."""
        name, size = _unit(max(done, total or 0))
        amount = f"{done / size:8.1f} {name}"
        if total:
            amount += f" / {total / size:.1f} {name}  {done * 100 // total:3d}%"
        self._draw(stage, amount, finished=total is not None and 0 < total <= done)

    def items(self, stage: str, done: int, total: int) -> None:
        """Callback for counted work, e.g. records synced: progress(done, total)."""
        self._draw(stage, f"{done}/{total}", finished=done >= total)

    def _draw(self, stage: str, text: str, finished: bool) -> None:
        if not self.enabled:
            return
        if self._stage not in (None, stage):
            self.stream.write("\n")
        now = time.monotonic()
        if self._stage == stage and not finished and now - self._last_draw < self.interval:
            return
        self._stage, self._last_draw = stage, now
        self.stream.write(f"\r{stage:<12}{text}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._stage is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._stage = None
