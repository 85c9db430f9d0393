"""What a fault cost, from what was sent and what the database holds: pure arithmetic."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class Tally:
    fault: str
    sent: int  # documents written to the inbox while this fault was in play
    stored: int  # of those, found in `records`
    lost: int  # documents not stored, plus refused files with no dead letter
    duplicated: int  # extra rows of a document, plus extra dead letters of a refused file
    dead_letters: int  # dead letters of this phase's refused files
    refused_files: int  # files written to be refused
    recovery_s: float | None  # kill → everything ready and a fresh document stored; None: never

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.recovery_s is not None


def tally(
    fault: str,
    sent_ids: Collection[str],
    refused_sources: Collection[str],
    stored: Mapping[str, int],
    dead_letters: Mapping[str, int],
    recovery_s: float | None,
) -> Tally:
    """``stored``: rows per chaos id; ``dead_letters``: rows per source file name. Both may
    hold other phases' entries: only this phase's are counted."""
    found = [stored.get(doc_id, 0) for doc_id in sent_ids]
    letters = [dead_letters.get(source, 0) for source in refused_sources]
    return Tally(
        fault=fault,
        sent=len(sent_ids),
        stored=sum(1 for count in found if count),
        lost=sum(1 for count in (*found, *letters) if count == 0),
        duplicated=sum(count - 1 for count in (*found, *letters) if count > 1),
        dead_letters=sum(letters),
        refused_files=len(refused_sources),
        recovery_s=recovery_s,
    )


def table(tallies: Sequence[Tally]) -> str:
    """One line per fault and a total; the dead-letter column is found/expected."""
    rows = [
        (t.fault, t.sent, t.stored, t.lost, t.duplicated, f"{t.dead_letters}/{t.refused_files}",
         f"{t.recovery_s:.1f}s" if t.recovery_s is not None else "NEVER")
        for t in tallies
    ]  # fmt: skip
    sums = [sum(t.sent for t in tallies), sum(t.stored for t in tallies),
            sum(t.lost for t in tallies), sum(t.duplicated for t in tallies)]  # fmt: skip
    letters = f"{sum(t.dead_letters for t in tallies)}/{sum(t.refused_files for t in tallies)}"
    rows.append(("total", *sums, letters, ""))
    widths = (26, 8, 8, 6, 5, 14, 10)
    header = ("fault", "docs in", "stored", "lost", "dup", "dead letters", "recovery")
    return "\n".join(
        "".join(f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}" for i, (cell, w) in
                enumerate(zip(row, widths, strict=True)))
        for row in (header, *rows)
    )  # fmt: skip
