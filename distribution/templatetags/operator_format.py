"""Formatting shared by the admin and the dashboard, so both show the same figure the same way."""

from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def milliseconds(value: int | None) -> str:
    """A duration for people: `180 ms`, `1.84 s`, `30.1 s`, `5 min 2 s`; an em dash when unknown."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} ms"
    if value < 10_000:
        return f"{value / 1000:.2f} s"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    minutes, seconds = divmod(round(value / 1000), 60)
    return f"{minutes} min {seconds} s"


BINARY_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


@register.filter
def binary_size(value: int | None) -> str:
    """A size in binary units with binary labels, as the commands print them: `812 bytes`, `1.5 KiB`, `24.0 MiB`."""
    if value is None:
        return "—"
    size, unit = float(value), 0
    while size >= 1024 and unit < len(BINARY_UNITS) - 1:
        size, unit = size / 1024, unit + 1
    return f"{value} bytes" if unit == 0 else f"{size:.1f} {BINARY_UNITS[unit]}"


@register.filter
def utc(moment: datetime | None) -> str:
    """The one time format of the operator pages: `2026-12-02 17:50:59 UTC`."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
