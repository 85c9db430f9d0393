"""The bench's documents: half ``{name, age, city}``, half nested JSON of 300-600 bytes, each
with the publisher's headers (source, sha256, doc-index, content-type, produced-at).

Pure and seeded, so every run and every contender sees the same bytes; produce() is the I/O.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime

from streamsuite_common.contract import document_headers

DOCS_PER_FILE = 100
NESTED_MIN, NESTED_MAX = 300, 600
CITIES = ("Lisbon", "Oslo", "Porto", "Turin", "Ghent", "Lyon", "Cork", "Bern", "Graz", "Brno")

Document = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers


def person(i: int, rng: random.Random) -> dict:
    return {"name": f"person {i}", "age": rng.randint(0, 99), "city": rng.choice(CITIES)}


def nested(i: int, rng: random.Random) -> dict:
    """A sensor reading 300-600 bytes long as compact JSON; a note pads it to a drawn length."""
    doc = {
        "device": {"id": f"dev-{i % 997}", "site": {"building": rng.randint(1, 9), "floor": 2}},
        "readings": [{"t": j, "v": round(rng.uniform(-20, 40), 2)} for j in range(3)],
        "tags": ["bench", rng.choice(CITIES).lower()],
        "note": "",
    }
    target = rng.randint(NESTED_MIN, NESTED_MAX)
    doc["note"] = "x" * max(0, target - len(encode(doc)))
    return doc


def encode(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def documents(n: int, *, seed: int = 15, produced_at: datetime | None = None) -> list[Document]:
    """``n`` messages as the publisher sends them: even ones people, odd ones nested."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    moment = produced_at or datetime.now(UTC)
    out = []
    for i in range(n):
        file_no, doc_index = divmod(i, DOCS_PER_FILE)
        source = f"bench/file-{file_no:05d}.jsonl"
        value = encode(person(i, rng) if i % 2 == 0 else nested(i, rng))
        headers = document_headers(
            source=source,
            sha256=hashlib.sha256(source.encode()).hexdigest(),
            doc_index=doc_index,
            produced_at=moment,
        )
        out.append((source.encode(), value, headers))
    return out


def produce(bootstrap: str, topic: str, docs: list[Document]) -> float:
    """Send every document once (acks=all, idempotent, as the publisher); seconds taken."""
    import time

    from kafka import KafkaProducer

    started = time.monotonic()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=256 * 1024,
    )
    for key, value, headers in docs:
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush(timeout=600)
    producer.close()
    return time.monotonic() - started
