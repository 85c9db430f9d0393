"""Pods deleted while documents flow, as Kubernetes does on a node drain or a rollout: 5,000
documents in 25 JSON Lines files, the ingestor's pod deleted while they are being stored and the
publisher's while it publishes; every document stored exactly once, and the time until each
resumed printed (and reported by `make kube-e2e`)."""

from __future__ import annotations

import json
import time

import pytest

from devstack.testing import unique, wait_for

FILES, DOCS_PER_FILE = 25, 200


def _count(db, prefix: str) -> int:
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM streamsuite.records WHERE source LIKE %s", (prefix + "%",)
        )
        return cur.fetchone()[0]


def _files(prefix: str, numbers: range) -> dict[str, bytes]:
    return {
        f"{prefix}-{n:02}.jsonl": "".join(
            json.dumps({"file": n, "line": i, "name": f"doc-{n}-{i}", "age": i % 90}) + "\n"
            for i in range(DOCS_PER_FILE)
        ).encode()
        for n in numbers
    }


def _stored_from(db, names) -> int:
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM streamsuite.records WHERE source = ANY(%s)", (list(names),)
        )
        return cur.fetchone()[0]


@pytest.mark.timeout(900)
def test_deleted_pods_lose_and_duplicate_nothing(cluster, target, db):
    prefix = unique("flow")
    total = FILES * DOCS_PER_FILE
    target.inbox.drop_many(_files(prefix, range(8)))
    wait_for(lambda: _count(db, prefix) > 0, timeout_s=120, what="the first documents stored")

    # The ingestor goes while documents are on their way, and more arrive meanwhile (the old
    # pod may still store some while it stops). Resumed: a file dropped once the old pod is gone
    # is stored, which only its replacement can do.
    pod = cluster.running_pod("ingestor")
    deleted_at = time.monotonic()
    cluster.run("delete", "pod", pod, "--wait=false")
    target.inbox.drop_many(_files(prefix, range(8, 12)))
    cluster.run("wait", "--for=delete", f"pod/{pod}", "--timeout=120s", timeout=150)
    after = _files(prefix, range(12, 16))
    target.inbox.drop_many(after)
    wait_for(
        lambda: _stored_from(db, after) > 0,
        timeout_s=180,
        interval_s=0.2,
        what="the replacement ingestor to store a file dropped after the old pod went",
    )
    cluster.report("ingestor pod deleted -> ingestion resumed", time.monotonic() - deleted_at)

    # The publisher goes right after a batch arrives in its inbox (a volume that stays); its
    # replacement publishes what it left.
    target.inbox.drop_many(_files(prefix, range(16, FILES)))
    pod = cluster.running_pod("publisher")
    deleted_at = time.monotonic()
    cluster.run("delete", "pod", pod, "--wait=false")
    cluster.run("wait", "--for=delete", f"pod/{pod}", "--timeout=120s", timeout=150)
    cluster.wait_ready()
    cluster.report("publisher pod deleted -> replacement Ready", time.monotonic() - deleted_at)
    wait_for(lambda: _count(db, prefix) >= total, timeout_s=300, interval_s=0.5,
             what=f"all {total} documents stored")  # fmt: skip
    cluster.report(f"publisher pod deleted -> all {total} stored", time.monotonic() - deleted_at)
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT (source, doc_index)), count(DISTINCT source)"
            " FROM streamsuite.records WHERE source LIKE %s",
            (prefix + "%",),
        )
        assert cur.fetchone() == (total, total, FILES)
