"""Formatting shared by the admin and the dashboard, so both show the same figure the same way."""

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
