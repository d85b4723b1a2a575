"""Reading the operators' pages as a test sees them: the admin's result rows, the /metrics samples."""

from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families


def result_rows(html: str) -> str:
    """The changelist's result table only, so filters and search hints don't count as rows."""
    return html[html.index('id="result_list"') : html.index("</table>", html.index('id="result_list"'))]


def scrape(client, **headers) -> dict[str, float]:
    """GET /metrics with the test settings' token, parsed by Prometheus's own client parser: {'name{labels}': value}."""
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {settings.DISTRIBUTION['METRICS_TOKEN']}")
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sample.labels.items())
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples
