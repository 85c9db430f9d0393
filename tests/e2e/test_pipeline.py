"""The pipeline end to end, against whichever deployment the environment names: a file dropped
in the publisher's inbox comes out of the query API and the web UI; a broken one comes out as a
dead letter.

The target (the same test runs against processes, containers and kind):

    STREAMSUITE_E2E_API_URL      query API base URL   (default: the local stack's, port 8000)
    STREAMSUITE_E2E_WEB_URL      web UI base URL      (default: the local stack's, port 8080)
    STREAMSUITE_E2E_INBOX        directory the publisher watches (default: the stack's inbox)
    STREAMSUITE_E2E_HEALTH_URLS  base URLs whose /healthz must answer, space-separated
                                 (default: the four services of the local stack)

The defaults follow DEVSTACK_VAR and DEVSTACK_SERVICE_PORT_OFFSET, so under `make test` (which
runs the process services) it tests the processes; `make container-test` points it at the
containers.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.services import SERVICES
from devstack.settings import StackSettings
from devstack.testing import http_get, unique, wait_for

PIPELINE_TIMEOUT_S = 120


def _local(port: int) -> str:
    return f"http://127.0.0.1:{StackSettings.from_env().service_port(port)}"


@pytest.fixture(scope="module")
def target() -> dict:
    env = os.environ
    health = env.get("STREAMSUITE_E2E_HEALTH_URLS", "").split()
    return {
        "api": env.get("STREAMSUITE_E2E_API_URL", _local(8000)).rstrip("/"),
        "web": env.get("STREAMSUITE_E2E_WEB_URL", _local(8080)).rstrip("/"),
        "inbox": Path(env.get("STREAMSUITE_E2E_INBOX", StackSettings.from_env().inbox)),
        "health": [url.rstrip("/") for url in health] or [_local(s.port) for s in SERVICES],
    }


def _drop(inbox: Path, name: str, data: bytes) -> None:
    """Write the file beside its final name, readable by the service's user, then rename it in
    so the publisher never sees half a file."""
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.rename(inbox / name)


def _get_json(url: str) -> dict:
    status, _, body = http_get(url)
    assert status == 200, f"GET {url}: {status} {body[:300]}"
    return json.loads(body)


def _items(url: str) -> list[dict]:
    status, _, body = http_get(url)
    return json.loads(body)["items"] if status == 200 else []


def test_every_target_answers_healthz(target):
    for base in target["health"]:
        assert http_get(f"{base}/healthz")[0] == 200, f"{base}/healthz"


def test_a_dropped_file_reaches_the_api_and_the_web_ui(target):
    name = f"{unique('e2e')}.json"
    person = unique("Ada")
    _drop(target["inbox"], name, json.dumps({"name": person, "age": 36}).encode())

    query = urllib.parse.urlencode({"source": name})
    url = f"{target['api']}/api/v1/records?{query}"
    items = wait_for(lambda: _items(url), what=f"{name} in {url}", timeout_s=PIPELINE_TIMEOUT_S,
                     interval_s=0.25)  # fmt: skip
    assert [(r["kind"], r["name"], r["age"], r["source"]) for r in items] == [
        ("relational", person, 36, name)
    ]
    record = _get_json(f"{target['api']}/api/v1/records/{items[0]['id']}")
    assert record["payload"] == {"name": person, "age": 36}

    status, content_type, page = http_get(f"{target['web']}/records?{query}")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    assert person in page
    assert name in page


def test_a_broken_file_becomes_a_dead_letter(target):
    name = f"{unique('e2e-broken')}.json"
    _drop(target["inbox"], name, b'{"name": "Ada", "age": ')

    query = urllib.parse.urlencode({"source": name})
    url = f"{target['api']}/api/v1/dead-letters?{query}"
    items = wait_for(lambda: _items(url), what=f"{name} in {url}", timeout_s=PIPELINE_TIMEOUT_S,
                     interval_s=0.25)  # fmt: skip
    assert [(d["reason"], d["origin"], d["source"]) for d in items] == [
        ("invalid-json", "publisher", name)
    ]
    assert not _items(f"{target['api']}/api/v1/records?{query}")


DASHBOARDS = Path(__file__).resolve().parents[2] / "helm" / "streamsuite" / "dashboards"
# Labels Prometheus adds from the scrape target, never in a service's own /metrics.
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "le"}


# The series names a query can use, by family type (the parser drops a counter's _total).
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _exposed(bases: list[str]) -> dict[str, set[str]]:
    """Series name (as queried: _total, _bucket... included) → label names on its samples."""
    exposed: dict[str, set[str]] = {}
    for base in bases:
        status, _, text = http_get(f"{base}/metrics")
        assert status == 200, f"{base}/metrics"
        for family in text_string_to_metric_families(text):
            for suffix in SERIES_SUFFIXES.get(family.type, ("",)):
                exposed.setdefault(family.name + suffix, set())
            for sample in family.samples:
                exposed.setdefault(sample.name, set()).update(sample.labels)
    return exposed


def test_the_grafana_dashboard_queries_what_the_services_expose(target):
    """Every metric a dashboard panel queries exists, with the labels it groups and filters by.
    Runs after the pipeline tests above, so the labelled counters have samples to compare."""
    exposed = _exposed(target["health"])
    assert exposed.get("streamsuite_ingestor_records_total"), "no records counted yet"
    queries = [
        t["expr"]
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for t in panel.get("targets", [])
    ]
    assert queries
    for expr in queries:
        grouped = {g.strip() for by in re.findall(r"by \(([^)]*)\)", expr) for g in by.split(",")}
        filtered = set(re.findall(r'(\w+)=~?"', expr))
        for metric in set(re.findall(r"streamsuite_[a-z_]+", expr)):
            assert metric in exposed, f"{metric} (in {expr}) is not exposed by any service"
            seen = exposed[metric]
            if seen:  # labels show only once a series has samples
                missing = (grouped | filtered) - TARGET_LABELS - seen
                assert not missing, f"{expr}: {metric} has no label {missing} (it has {seen})"
