"""The chart's PrometheusRule: created with the monitors, valid for promtool, every alert driven
into firing by the fixtures in rules/ (``promtool test rules``), every runbook_url an anchor of
README.md, and the thresholds taken from the values."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import MONITORING_API, objects, one, render

RULE_TESTS = Path(__file__).parent / "rules" / "streamsuite-alerts.test.yaml"
README = Path(__file__).resolve().parents[2] / "README.md"


def promtool() -> str:
    """$PROMTOOL (the Makefile sets it) or the one it unpacks into .cache/tools."""
    default = Path(__file__).resolve().parents[2] / ".cache/tools/prometheus/usr/bin/promtool"
    path = os.environ.get("PROMTOOL") or str(default)
    assert shutil.which(path), f"promtool not found at {path}: run make chart-test"
    return path


def rule_groups(**set_values: str) -> list[dict]:
    manifests = render(set_values=set_values, api_versions=[MONITORING_API])
    return one(manifests, "PrometheusRule", "streamsuite")["spec"]["groups"]


def alerts(groups: list[dict]) -> dict[str, dict]:
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def write_rules(directory: Path, groups: list[dict]) -> Path:
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("set_values", "apis", "expected"),
    [
        ({}, [], False),
        ({}, [MONITORING_API], True),
        ({"monitoring.rules.enabled": "false"}, [MONITORING_API], False),
        ({"monitoring.enabled": "false"}, [MONITORING_API], False),
        ({"monitoring.enabled": "true"}, [], True),
    ],
)
def test_the_rules_exist_with_the_monitors_unless_turned_off(set_values, apis, expected):
    manifests = render(set_values=set_values, api_versions=apis)
    assert bool(objects(manifests, "PrometheusRule")) is expected


def test_promtool_accepts_the_rendered_rules(tmp_path):
    path = write_rules(tmp_path, rule_groups())
    done = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_on_its_condition_and_not_on_a_near_miss(tmp_path):
    groups = rule_groups()
    write_rules(tmp_path, groups)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    done = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    fixtures = yaml.safe_load(RULE_TESTS.read_text())
    fired = {
        case["alertname"]
        for test in fixtures["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == set(alerts(groups)), "every alert needs a fixture that makes it fire"


def _github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_a_runbook_in_the_readme():
    anchors = {
        _github_anchor(line.lstrip("#"))
        for line in README.read_text().splitlines()
        if line.startswith("#")
    }
    for name, rule in alerts(rule_groups()).items():
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page.endswith("/README.md"), url
        assert anchor == name.lower(), url
        assert anchor in anchors, f"{name}: no README section for {url}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_thresholds_and_labels_come_from_the_values():
    manifests = render(
        set_values={
            "monitoring.rules.lagMessages": "42",
            "monitoring.rules.stalledSeconds": "120",
            "monitoring.rules.deadLettersPerMinute": "5",
            "monitoring.rules.labels.release": "monitoring",
            "monitoring.rules.runbookUrl": "https://wiki.example/streamsuite",
        },
        api_versions=[MONITORING_API],
    )
    rule = one(manifests, "PrometheusRule", "streamsuite")
    assert rule["metadata"]["labels"]["release"] == "monitoring"
    by_name = alerts(rule["spec"]["groups"])
    assert "> 42\n" in by_name["StreamsuiteConsumerLagGrowing"]["expr"]
    assert by_name["StreamsuiteInboxStuck"]["expr"].endswith("> 120")
    assert by_name["StreamsuiteDeadLettersHigh"]["expr"].endswith("* 60 > 5")
    assert by_name["StreamsuiteInboxStuck"]["annotations"]["runbook_url"] == (
        "https://wiki.example/streamsuite#streamsuiteinboxstuck"
    )


def test_every_expression_is_scoped_to_this_release():
    """Two releases in one cluster: neither alerts on the other's series."""
    for name, rule in alerts(rule_groups()).items():
        selectors = re.findall(r"\b(\w+)\{([^}]*)\}", rule["expr"])
        assert selectors, name
        for metric, matchers in selectors:
            assert 'namespace="streamsuite"' in matchers, f"{name}: {metric}{{{matchers}}}"
            assert re.search(r'job="streamsuite-[a-z-]+"', matchers), f"{name}: {metric}"
