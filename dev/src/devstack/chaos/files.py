"""The files a chaos run drops into the inbox: every format the publisher reads, each document
tagged with the run and a unique id, and now and then a file the publisher must refuse (so the
dead-letter path is under fault too). Pure: names and bytes only."""

from __future__ import annotations

import dataclasses
import json

# (suffix, documents in the file): one of each format in turn.
FORMATS: tuple[tuple[str, int], ...] = (
    (".json", 1),
    (".jsonl", 4),
    (".yaml", 3),
    (".ndjson", 2),
    (".yml", 1),
)
BAD_EVERY = 20  # one refused file in this many


@dataclasses.dataclass(frozen=True)
class ChaosFile:
    name: str
    data: bytes
    ids: tuple[str, ...]  # the chaos_id of each document, to be found in `records`
    bad: bool = False  # refused as a whole: to be found once in `dead_letters` instead


def chaos_file(run: str, seq: int) -> ChaosFile:
    """File number ``seq`` of run ``run``."""
    stem = f"chaos-{run}-{seq:06d}"
    if seq % BAD_EVERY == BAD_EVERY - 1:
        return ChaosFile(f"{stem}.json", b'{"chaos_run": "' + run.encode() + b'", "cut', (), True)
    suffix, count = FORMATS[seq % len(FORMATS)]
    ids = tuple(f"{seq:06d}-{index}" for index in range(count))
    docs = [
        {"chaos_run": run, "chaos_id": doc_id, "name": f"chaos {doc_id}", "age": seq % 120,
         "price": "19.990000000000000000001", "n": index}
        for index, doc_id in enumerate(ids)
    ]  # fmt: skip
    if suffix == ".json":
        text = json.dumps(docs[0])
    elif suffix in (".jsonl", ".ndjson"):
        text = "".join(json.dumps(doc) + "\n" for doc in docs)
    else:
        text = "".join("---\n" + "".join(f"{k}: {json.dumps(v)}\n" for k, v in doc.items())
                       for doc in docs)  # fmt: skip
    return ChaosFile(f"{stem}{suffix}", text.encode(), ids)
