"""Contender: streamsuite's ingestor, N replicas as separate processes in one consumer group,
started through its CLI against the stack's broker and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from devstack.bench.database import RowWatch, Stack
from devstack.bench.processes import Group
from devstack.bench.results import Sample


def run(
    stack: Stack, env: Mapping[str, str], *, key: str, topic: str, dlq: str, schema: str,
    group: str, replicas: int, n: int, timeout_s: float,
) -> Sample:  # fmt: skip
    envs = [
        stack.ingestor_env(
            env,
            KAFKA__TOPIC=topic,
            KAFKA__DLQ_TOPIC=dlq,
            DATABASE__SCHEMA=schema,
            INGESTOR__GROUP_ID=group,
            INGESTOR__REPLICA_INDEX=str(i),
        )
        for i in range(replicas)
    ]
    watch = RowWatch(stack, schema, "records")
    procs = Group(
        [[sys.executable, "-m", "streamsuite_ingestor", "run"]] * replicas,
        envs,
        stack.var / "bench" / f"{key}.log",
    )
    try:
        first, last = watch.wait(n, timeout_s, procs.alive)
        cpu = procs.cpu()
    finally:
        procs.stop()
        watch.close()
    return Sample(key, n, last - procs.started, last - first, cpu)
