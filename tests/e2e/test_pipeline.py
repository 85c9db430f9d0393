"""The pipeline end to end, against whichever deployment the environment names (processes,
containers or Kubernetes pods; see devstack.e2e_target): a file dropped in the publisher's inbox
comes out of the query API and the web UI; a broken one comes out as a dead letter; a JSON Lines
file as one record per line.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.e2e_target import Target
from devstack.testing import http_get, unique, wait_for

PIPELINE_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def target() -> Target:
    return Target.from_env()


def _get_json(target: Target, url: str) -> dict:
    status, _, body = target.get(url)
    assert status == 200, f"GET {url}: {status} {body[:300]}"
    return json.loads(body)


def _items(target: Target, url: str) -> list[dict]:
    status, _, body = target.get(url)
    return json.loads(body)["items"] if status == 200 else []


def test_every_target_answers_healthz(target):
    for base in target.health:
        assert http_get(f"{base}/healthz")[0] == 200, f"{base}/healthz"


def test_the_api_and_the_ui_refuse_callers_without_a_token(target):
    # Authentication is on in every deployment the suite runs against (issue 17).
    for url in (f"{target.api}/api/v1/records", f"{target.web}/records"):
        status, _, _ = http_get(url)
        assert status == 401, url
        assert target.get(url)[0] == 200, url


def test_a_dropped_file_reaches_the_api_and_the_web_ui(target):
    name = f"{unique('e2e')}.json"
    person = unique("Ada")
    target.inbox.drop(name, json.dumps({"name": person, "age": 36}).encode())

    query = urllib.parse.urlencode({"source": name})
    url = f"{target.api}/api/v1/records?{query}"
    items = wait_for(lambda: _items(target, url), what=f"{name} in {url}",
                     timeout_s=PIPELINE_TIMEOUT_S, interval_s=0.25)  # fmt: skip
    assert [(r["kind"], r["name"], r["age"], r["source"]) for r in items] == [
        ("relational", person, 36, name)
    ]
    record = _get_json(target, f"{target.api}/api/v1/records/{items[0]['id']}")
    assert record["payload"] == {"name": person, "age": 36}

    status, content_type, page = target.get(f"{target.web}/records?{query}")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    assert person in page
    assert name in page


def test_numbers_come_out_of_the_api_exactly_as_they_were_written(target):
    """JSON is forwarded as written and stored as JSONB numerics: no digit is lost to a float on
    the way from the file to the API's answer."""
    name = f"{unique('e2e-numbers')}.json"
    exact = ("19.990000000000000000001", "12345678901234567890.5")
    document = f'{{"name": "{unique("Gauss")}", "price": {exact[0]}, "big": {exact[1]}}}'
    target.inbox.drop(name, document.encode())

    query = urllib.parse.urlencode({"source": name})
    url = f"{target.api}/api/v1/records?{query}"
    items = wait_for(lambda: _items(target, url), what=f"{name} stored",
                     timeout_s=PIPELINE_TIMEOUT_S, interval_s=0.25)  # fmt: skip
    status, _, body = target.get(f"{target.api}/api/v1/records/{items[0]['id']}")
    assert status == 200
    for number in exact:
        assert f": {number}" in body or f":{number}" in body, f"{number} not in {body}"


def test_a_broken_file_becomes_a_dead_letter(target):
    name = f"{unique('e2e-broken')}.json"
    target.inbox.drop(name, b'{"name": "Ada", "age": ')

    query = urllib.parse.urlencode({"source": name})
    url = f"{target.api}/api/v1/dead-letters?{query}"
    items = wait_for(lambda: _items(target, url), what=f"{name} in {url}",
                     timeout_s=PIPELINE_TIMEOUT_S, interval_s=0.25)  # fmt: skip
    assert [(d["reason"], d["origin"], d["source"]) for d in items] == [
        ("invalid-json", "publisher", name)
    ]
    assert not _items(target, f"{target.api}/api/v1/records?{query}")

    status, content_type, page = target.get(f"{target.web}/dead-letters?{query}")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    assert name in page
    assert "invalid-json" in page


def test_a_json_lines_file_becomes_one_record_per_line(target):
    name = f"{unique('e2e-lines')}.jsonl"
    people = [unique("Lovelace"), unique("Hopper"), unique("Noether")]
    lines = [json.dumps({"name": person, "age": 30 + i}) for i, person in enumerate(people)]
    target.inbox.drop(name, ("\n".join(lines) + "\n").encode())

    query = urllib.parse.urlencode({"source": name})
    url = f"{target.api}/api/v1/records?{query}"

    def all_three() -> list[dict]:
        items = _items(target, url)
        return items if len(items) == 3 else []

    items = wait_for(all_three, what=f"3 records of {name} in {url}",
                     timeout_s=PIPELINE_TIMEOUT_S, interval_s=0.25)  # fmt: skip
    assert sorted((r["doc_index"], r["name"], r["age"]) for r in items) == [
        (i, person, 30 + i) for i, person in enumerate(people)
    ]
    status, _, page = target.get(f"{target.web}/records?{query}")
    assert status == 200
    assert all(person in page for person in people)


CHART = Path(__file__).resolve().parents[2] / "helm" / "streamsuite"
DASHBOARDS = CHART / "dashboards"
ALERT_RULES = CHART / "templates" / "monitoring" / "prometheusrule.yaml"
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


def _alert_expressions() -> list[str]:
    """The `expr: |-` blocks of the chart's alert rules, Helm actions (the release's namespace and
    job matchers, the thresholds) left out."""
    exprs: list[str] = []
    lines = ALERT_RULES.read_text().splitlines()
    for n, line in enumerate(lines):
        if line.strip() == "expr: |-":
            indent = len(line) - len(line.lstrip()) + 2
            block = []
            for following in lines[n + 1 :]:
                if len(following) - len(following.lstrip()) < indent:
                    break
                block.append(following.strip())
            exprs.append(re.sub(r"\{\{.*?\}\}", "", " ".join(block)))
    return exprs


def test_the_grafana_dashboard_queries_what_the_services_expose(target):
    """Every metric a dashboard panel or an alert rule queries exists, with the labels it groups
    and filters by. Runs after the pipeline tests above, so the labelled counters have samples."""
    exposed = _exposed(target.health)
    assert exposed.get("streamsuite_ingestor_records_total"), "no records counted yet"
    queries = [
        t["expr"]
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for t in panel.get("targets", [])
    ]
    assert queries
    alerts = _alert_expressions()
    assert len(alerts) == ALERT_RULES.read_text().count("- alert: ")
    queries += alerts
    for expr in queries:
        # Each operand of or/and/unless on its own: one rule may join metrics of other labels.
        for part in re.split(r"\b(?:or|and|unless)\b", expr):
            _check_labels(part, exposed)


def _check_labels(expr: str, exposed: dict[str, set[str]]) -> None:
    grouped = {g.strip() for by in re.findall(r"by \(([^)]*)\)", expr) for g in by.split(",")}
    filtered = set(re.findall(r'(\w+)=~?"', expr))
    for metric in set(re.findall(r"streamsuite_[a-z_]+", expr)):
        assert metric in exposed, f"{metric} (in {expr}) is not exposed by any service"
        seen = exposed[metric]
        if seen:  # labels show only once a series has samples
            missing = (grouped | filtered) - TARGET_LABELS - seen - {""}
            assert not missing, f"{expr}: {metric} has no label {missing} (it has {seen})"
