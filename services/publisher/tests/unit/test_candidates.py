"""spool.is_candidate: which paths in the inbox are files to publish."""

from __future__ import annotations

import pytest

from streamsuite_publisher.spool import is_candidate


@pytest.mark.parametrize(
    "relpath",
    [
        "a.json",
        "a.jsonl",
        "a.ndjson",
        "a.yaml",
        "a.yml",
        "A.JSON",
        "b.Yml",
        "c.YAML",
        "d.NDJSON",
        "dir/a.json",
        "deep/er/still/a.yaml",
        "name with spaces.json",
        "dots.in.name.json",
        "sub/processed/a.json",  # a reserved name below the top level is an ordinary dir
        "sub/error/a.json",
        "processedx/a.json",
        "Processing/a.json",  # reserved names are exact
    ],
)
def test_supported_files_are_candidates(relpath):
    assert is_candidate(relpath)


@pytest.mark.parametrize("relpath", [".a.json", ".hidden.yaml", "dir/.a.json"])
def test_hidden_files_are_not_candidates(relpath):
    assert not is_candidate(relpath)


@pytest.mark.parametrize("relpath", [".git/a.json", "dir/.cache/a.json", ".x/y/a.yaml"])
def test_files_in_hidden_dirs_are_not_candidates(relpath):
    assert not is_candidate(relpath)


@pytest.mark.parametrize(
    "relpath",
    [
        "a.json.tmp",
        "a.json.part",
        "a.json~",
        "a.json.swp",
        "a.json.crdownload",
        "a.json.partial",
        "a.yaml.TMP",
        "dir/a.jsonl.Part",
    ],
)
def test_temporary_files_are_not_candidates(relpath):
    assert not is_candidate(relpath)


@pytest.mark.parametrize(
    "relpath", ["a.txt", "a.csv", "a.xml", "a.json.bak", "a.jsn", "README", "json", "a.yaml.gz"]
)
def test_unknown_extensions_are_not_candidates(relpath):
    assert not is_candidate(relpath)


@pytest.mark.parametrize(
    "relpath",
    [
        "processing/a.json",
        "processing/host.1.abcd/a.json",
        "processed/a.json",
        "processed/sub/a.yaml",
        "error/a.json",
        "error/a.json.error.json",
    ],
)
def test_files_in_the_spool_directories_are_not_candidates(relpath):
    assert not is_candidate(relpath)


def test_an_empty_path_is_not_a_candidate():
    assert not is_candidate("")
