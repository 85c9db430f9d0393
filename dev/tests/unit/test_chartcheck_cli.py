"""The command line, without helm: values sets, the check of one render, usage errors."""

from pathlib import Path

import pytest

from devstack.chartcheck import cli, helm


def chart(tmp_path: Path, *ci_files: str) -> Path:
    root = tmp_path / "streamsuite"
    (root / "ci").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: streamsuite\nversion: 0.1.0\n")
    for name in ci_files:
        (root / "ci" / name).write_text("{}\n")
    return root


def test_values_sets_are_the_defaults_then_each_ci_file_alone(tmp_path: Path) -> None:
    root = chart(tmp_path, "tls-values.yaml", "monitoring-values.yaml", "notes.yaml")
    assert cli.values_sets(root) == [
        cli.ValuesSet("default", ()),
        cli.ValuesSet(
            "ci/monitoring-values.yaml",
            (root / "ci" / "monitoring-values.yaml",),
            ("monitoring.coreos.com/v1",),
        ),
        cli.ValuesSet("ci/tls-values.yaml", (root / "ci" / "tls-values.yaml",)),
    ]


def test_named_values_files_are_read_relative_to_the_chart(tmp_path: Path) -> None:
    root = chart(tmp_path, "tls-values.yaml")
    assert cli.values_sets(root, ["ci/tls-values.yaml"]) == [
        cli.ValuesSet("ci/tls-values.yaml", (root / "ci" / "tls-values.yaml",))
    ]
    with pytest.raises(cli.UsageError, match=r"values file ci/nope\.yaml not found"):
        cli.values_sets(root, ["ci/nope.yaml"])


def test_one_render_is_checked_against_schemas_and_policies(sample, crd_schemas) -> None:
    assert cli.check_manifests(sample.manifests, kube_versions=("1.34",), crds=crd_schemas) == []
    sample.obj("Kafka", "streamsuite-kafka")["apiVersion"] = "kafka.strimzi.io/v1beta2"
    del sample.obj("Service", "streamsuite-web")["metadata"]["labels"]["helm.sh/chart"]
    found = cli.check_manifests(sample.manifests, kube_versions=("1.34",), crds=crd_schemas)
    assert [f.check for f in found] == ["schema crd", "labels"]


def test_the_generated_header_names_the_chart_relative_to_the_checkout(tmp_path: Path) -> None:
    assert cli.chart_label(helm.REPO_ROOT / "helm" / "streamsuite") == "helm/streamsuite"
    assert cli.chart_label(tmp_path / "chart") == (tmp_path / "chart").as_posix()


def test_a_directory_without_chart_yaml_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", "--chart", str(tmp_path)]) == cli.EXIT_USAGE
    assert (
        capsys.readouterr().err == f"chartcheck: {tmp_path} is not a Helm chart (no Chart.yaml)\n"
    )


def test_missing_helm_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELM", str(tmp_path / "no-helm"))
    assert cli.main(["render", "--chart", str(chart(tmp_path)), "--out", "k8s"]) == 2
    assert capsys.readouterr().err.startswith("chartcheck: helm not found at ")
