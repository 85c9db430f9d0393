"""The inbox on disk: which files are waiting, claiming one, and where it goes afterwards.

State lives in the spool itself, so it survives restarts and is shared by every publisher on
the volume::

    inbox/
      any/dirs/file.json          waiting (published once stable)
      processing/<owner>/...      claimed by one publisher (atomic rename) while it publishes
      processed/...               published
      error/... + <name>.error.json   refused, with the reason beside it

A claim whose owner died (same host and its pid gone, or no heartbeat for the claim timeout)
is put back in the inbox, so a crash loses nothing; the record identity downstream makes the
possible re-send harmless.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from streamsuite_common.pids import pid_alive
from streamsuite_publisher.formats import SUPPORTED_SUFFIXES

PROCESSING, PROCESSED, ERROR = "processing", "processed", "error"
RESERVED = frozenset({PROCESSING, PROCESSED, ERROR})
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")
HEARTBEAT = ".heartbeat"


def is_candidate(relpath: str) -> bool:
    """Whether a path (relative to the inbox) is a file we publish: supported extension, not
    hidden, not a temporary file, not inside the spool's own directories."""
    parts = PurePosixPath(relpath).parts
    if not parts or parts[0] in RESERVED or any(part.startswith(".") for part in parts):
        return False
    name = parts[-1].lower()
    return not name.endswith(TEMPORARY_SUFFIXES) and name.endswith(SUPPORTED_SUFFIXES)


@dataclasses.dataclass
class _Watch:
    signature: tuple[int, int]
    since: float


class StabilityTracker:
    """A file is ready once its size and mtime have not changed for ``stable_s`` seconds."""

    def __init__(self, stable_s: float):
        self.stable_s = stable_s
        self._seen: dict[str, _Watch] = {}

    def update(self, observed: dict[str, tuple[int, int]], now: float) -> list[str]:
        """Record a scan (path → (size, mtime_ns)); return the ready paths, oldest first."""
        for path in list(self._seen):
            if path not in observed:
                del self._seen[path]
        ready = []
        for path, signature in observed.items():
            watch = self._seen.get(path)
            if watch is None or watch.signature != signature:
                self._seen[path] = _Watch(signature, now)
            elif now - watch.since >= self.stable_s:
                ready.append((watch.since, path))
        return [path for _, path in sorted(ready)]

    def next_due(self, now: float) -> float | None:
        """Seconds until the next waiting file could be ready, or None when none waits."""
        if not self._seen:
            return None
        return max(0.0, min(w.since for w in self._seen.values()) + self.stable_s - now)

    def forget(self, path: str) -> None:
        self._seen.pop(path, None)


def new_owner_id() -> str:
    """``host.pid.token``: unique per process incarnation, even for pid 1 in a container."""
    return f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"


def _parse_owner(owner: str) -> tuple[str, int | None]:
    host_and_pid = owner.rpartition(".")[0]
    host, _, pid = host_and_pid.rpartition(".")
    return host, int(pid) if pid.isdigit() else None


class RefusedFile(Exception):
    """A claimed file that cannot be read: ``reason`` code and ``detail`` for people."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Claim:
    relpath: str  # as the file was named in the inbox: the message key and `source` header
    path: Path  # where it lies now, in processing/<owner>/
    target: Path | None = None  # for a symlink: what it pointed to inside the inbox


class Spool:
    def __init__(self, root: Path, owner: str | None = None, *, delete_published: bool = False):
        self.root = root
        self.owner = owner or new_owner_id()
        self.delete_published = delete_published
        self.claims = root / PROCESSING / self.owner

    def prepare(self) -> None:
        for name in RESERVED:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.claims.mkdir(parents=True, exist_ok=True)
        self.heartbeat()

    def close(self) -> None:
        """On a clean stop: drop our claim directory, which is empty by then."""
        (self.claims / HEARTBEAT).unlink(missing_ok=True)
        # Directories only: a file still claimed stays, and recovery hands it back later.
        _remove_empty_dirs(self.claims)

    def heartbeat(self) -> None:
        (self.claims / HEARTBEAT).touch()

    def scan(self) -> dict[str, tuple[int, int]]:
        """Every waiting candidate → (size, mtime_ns), by walking the inbox (not the spool dirs)."""
        found: dict[str, tuple[int, int]] = {}
        for relpath, entry in self._walk(self.root, ""):
            if is_candidate(relpath):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # claimed or removed while we looked
                found[relpath] = (st.st_size, st.st_mtime_ns)
        return found

    def _walk(self, directory: Path, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        for entry in entries:
            relpath = f"{prefix}{entry.name}"
            if entry.name.startswith(".") or (not prefix and entry.name in RESERVED):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), relpath + "/")
            elif entry.is_file() or entry.is_symlink():
                yield relpath, entry

    def claim(self, relpath: str) -> Claim | None:
        """Take the file for this process by renaming it into processing/; None when another
        publisher (or a person) took it first."""
        source = self.root / relpath
        target = None
        if source.is_symlink():
            target = Path(os.path.realpath(source))
        destination = self.claims / relpath
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(source, destination)
        except FileNotFoundError:
            return None
        return Claim(relpath, destination, target)

    def read(self, claim: Claim, max_bytes: int) -> bytes:
        """The claimed file's bytes, or RefusedFile saying why they cannot be had."""
        path = claim.path
        if claim.target is not None:
            inbox = self.root.resolve()
            inside = claim.target.is_relative_to(inbox)
            spool_dir = inside and claim.target.relative_to(inbox).parts[:1] in [
                (name,) for name in RESERVED
            ]
            if not inside or spool_dir:
                raise RefusedFile(
                    "symlink-outside-inbox", f"symlink points outside the inbox: {claim.target}"
                )
            path = claim.target
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
                raise RefusedFile("not-a-file", "not a regular file")
            size = st.st_size
            if size > max_bytes:
                raise RefusedFile(
                    "file-too-large", f"file of {size:,} bytes is over the limit of {max_bytes:,}"
                )
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise RefusedFile("vanished", "the file disappeared before it could be read") from None
        except IsADirectoryError:
            raise RefusedFile("not-a-file", "not a regular file") from None
        except PermissionError as exc:
            raise RefusedFile("unreadable", f"cannot read the file: {exc.strerror}") from None
        except OSError as exc:
            raise RefusedFile("unreadable", f"cannot read the file: {exc.strerror}") from None
        if len(data) > max_bytes:  # it grew after the stat
            raise RefusedFile("file-too-large", f"file is over the limit of {max_bytes:,} bytes")
        return data

    def finish_published(self, claim: Claim, report: dict[str, Any] | None = None) -> None:
        """Move a published file to processed/ (or delete it); ``report`` lists documents of
        it that were refused, written to error/<name>.error.json."""
        if report is not None:
            self._write_report(claim.relpath, report)
        if self.delete_published:
            claim.path.unlink(missing_ok=True)
        else:
            _move(claim.path, _unique(self.root / PROCESSED / claim.relpath))

    def finish_refused(self, claim: Claim, report: dict[str, Any]) -> None:
        destination = _unique(self.root / ERROR / claim.relpath, _report_path)
        _move(claim.path, destination)
        self._write_report(claim.relpath, report, beside=destination)

    def _write_report(
        self, relpath: str, report: dict[str, Any], beside: Path | None = None
    ) -> None:
        beside = beside or _unique(self.root / ERROR / relpath, _report_path)
        path = _report_path(beside)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)

    def release(self, claim: Claim) -> None:
        """Put a claimed file back in the inbox (shutdown before it was published)."""
        _move(claim.path, _unique(self.root / claim.relpath))

    def recover_stale(self, timeout_s: float) -> list[str]:
        """Put the files of dead publishers' claims back in the inbox; return their paths."""
        recovered = []
        for claim_dir in sorted((self.root / PROCESSING).glob("*")):
            if claim_dir.name == self.owner or not claim_dir.is_dir():
                continue
            if not self._is_stale(claim_dir, timeout_s):
                continue
            for relpath, _ in list(self._walk(claim_dir, "")):
                _move(claim_dir / relpath, _unique(self.root / relpath))
                recovered.append(relpath)
            (claim_dir / HEARTBEAT).unlink(missing_ok=True)
            _remove_empty_dirs(claim_dir)
        return recovered

    def _is_stale(self, claim_dir: Path, timeout_s: float) -> bool:
        host, pid = _parse_owner(claim_dir.name)
        same_host = host == socket.gethostname() and pid is not None
        if same_host and (pid == os.getpid() or not pid_alive(pid)):
            return True  # an earlier incarnation of this process, or a dead neighbour
        try:
            beat = (claim_dir / HEARTBEAT).stat().st_mtime
        except FileNotFoundError:
            beat = claim_dir.stat().st_mtime
        return time.time() - beat > timeout_s


def _report_path(path: Path) -> Path:
    return path.with_name(path.name + ".error.json")


def _taken(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _unique(path: Path, companion: Callable[[Path], Path] | None = None) -> Path:
    """``path``, or ``name.1.json``, ``name.2.json`` … when something is there already (or at
    the ``companion`` path of that name, e.g. its error report)."""

    def free(candidate: Path) -> bool:
        return not _taken(candidate) and not (companion and _taken(companion(candidate)))

    if free(path):
        return path
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    for n in range(1, 1_000_000):
        candidate = path.with_name(f"{stem}.{n}{suffix}")
        if free(candidate):
            return candidate
    raise FileExistsError(path)


def _move(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.rename(source, destination)


def _remove_empty_dirs(directory: Path) -> None:
    """Remove ``directory`` and the directories below it that are empty, deepest first."""
    subdirs = [p for p in directory.rglob("*") if p.is_dir() and not p.is_symlink()]
    for path in [*sorted(subdirs, key=lambda p: len(p.parts), reverse=True), directory]:
        with contextlib.suppress(OSError):
            path.rmdir()
