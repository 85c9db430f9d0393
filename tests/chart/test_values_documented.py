"""Every value of the chart has a `# --` description, so its README (helm-docs) says what each
one does; a value added without one shows up here by name."""

from __future__ import annotations

from pathlib import Path

CHART_README = Path(__file__).resolve().parents[2] / "helm" / "streamsuite" / "README.md"


def value_rows(readme: str) -> dict[str, str]:
    """Key → description of the helm-docs values table."""
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 4 and cells[0] not in ("Key", ""):
            rows[cells[0]] = cells[-1]
    return rows


def test_every_value_is_described():
    rows = value_rows(CHART_README.read_text())
    assert len(rows) > 50  # the table was found
    assert [key for key, description in rows.items() if not description] == []


def test_a_value_without_a_description_is_named():
    table = "| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n"
    rows = value_rows(table + "| a.b | int | `1` | Does a. |\n| c | list | `[]` |  |\n")
    assert [key for key, description in rows.items() if not description] == ["c"]
