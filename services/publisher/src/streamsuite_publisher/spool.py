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
import errno
import json
import os
import secrets
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from streamsuite_common.logs import get_logger
from streamsuite_common.pids import pid_alive
from streamsuite_common.publishing.formats import SUPPORTED_SUFFIXES
from streamsuite_publisher.identity import ReplicaSlot, default_transactional_id

log = get_logger(__name__)

PROCESSING, PROCESSED, ERROR = "processing", "processed", "error"
RESERVED = frozenset({PROCESSING, PROCESSED, ERROR})
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")
HEARTBEAT = ".heartbeat"
# A claimed file already committed to Kafka that could not be moved on (disk full, …) is
# renamed in place with one of these, so that recovery moves it on instead of publishing it
# again: to processed/ or to error/.
DONE_MARKS = {".published": PROCESSED, ".refused": ERROR}


def is_candidate(relpath: str) -> bool:
    """Whether a path (relative to the inbox) is a file we publish: supported extension, not
    hidden, not a temporary file, not inside the spool's own directories."""
    parts = PurePosixPath(relpath).parts
    if not parts or parts[0] in RESERVED or any(part.startswith(".") for part in parts):
        return False
    name = parts[-1].lower()
    return not name.endswith(TEMPORARY_SUFFIXES) and name.endswith(SUPPORTED_SUFFIXES)


def name_is_utf8(relpath: str) -> bool:
    """False for a name whose bytes are not UTF-8 (Python holds them as lone surrogates)."""
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def source_text(relpath: str) -> str:
    """A path as text that can always be sent: itself when it is UTF-8, else its bytes that
    are not UTF-8 written as ``\\xNN`` (``caf\\xe9.json``), as Python's ``backslashreplace``
    does."""
    return os.fsencode(relpath).decode("utf-8", "backslashreplace")


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


class ChangedFile(Exception):
    """A claimed file whose size or mtime, read from the open descriptor after reading it, is
    not what made it look complete: its writer is still at it. It is put back, not refused."""


class UnclaimableFile(Exception):
    """A file that cannot be moved into processing/: it stays in the inbox, and ``reason``
    (the errno's name, e.g. ``EACCES``) and ``detail`` say why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "OSError")


def _file_type(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def _opened_path(fd: int, fallback: Path) -> str:
    """The path of what ``fd`` really is (Linux /proc), or ``fallback`` without /proc."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(fallback)


@dataclasses.dataclass(frozen=True)
class Claim:
    relpath: str  # as the file was named in the inbox: the message key and `source` header
    path: Path  # where it lies now, in processing/<owner>/
    target: Path | None = None  # for a symlink: what it pointed to inside the inbox
    expected: tuple[int, int] | None = None  # (size, mtime_ns) that made it look complete

    @property
    def source(self) -> str:
        """The name as sent (message key, `source`, reports): see ``source_text``."""
        return source_text(self.relpath)


class Spool:
    def __init__(self, root: Path, owner: str | None = None, *, delete_published: bool = False):
        self.root = root
        self.owner = owner or new_owner_id()
        self.delete_published = delete_published
        self.claims = root / PROCESSING / self.owner
        self._slot: ReplicaSlot | None = None

    def default_transactional_id(self) -> str:
        """The transactional id for this inbox and this publisher's replica slot, which is
        held until ``close`` (see ``identity``)."""
        directory = self.root / PROCESSING
        if self._slot is None:
            directory.mkdir(parents=True, exist_ok=True)
            self._slot = ReplicaSlot(directory)
        return default_transactional_id(directory, self._slot)

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
        if self._slot is not None:
            self._slot.release()
            self._slot = None

    def heartbeat(self) -> None:
        try:
            (self.claims / HEARTBEAT).touch()
        except FileNotFoundError:
            # Our claim directory was removed (by a person, or by a publisher that took us for
            # dead while we stalled): make it again rather than fail.
            self.claims.mkdir(parents=True, exist_ok=True)
            (self.claims / HEARTBEAT).touch()

    def scan(self) -> dict[str, tuple[int, int]]:
        """Every waiting candidate → (size, mtime_ns), by walking the inbox (not the spool dirs)."""
        found: dict[str, tuple[int, int]] = {}
        for relpath, entry in self._walk(self.root, ""):
            if is_candidate(relpath):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # claimed or removed while we looked
                found[relpath] = (st.st_size, st.st_mtime_ns)
        return found

    def _walk(self, directory: Path, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        try:
            entries = list(os.scandir(directory))
        except OSError:  # vanished, unreadable, path too long: nothing to list there
            return
        for entry in entries:
            relpath = f"{prefix}{entry.name}"
            if entry.name.startswith(".") or (not prefix and entry.name in RESERVED):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), relpath + "/")
            else:  # a FIFO, socket or device too: it is claimed and refused, never ignored
                yield relpath, entry

    def signature(self, relpath: str) -> tuple[int, int] | None:
        """(size, mtime_ns) of a waiting file, as ``scan`` reports it; None when it is gone."""
        try:
            st = os.lstat(self.root / relpath)
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def claim(self, relpath: str, expected: tuple[int, int] | None = None) -> Claim | None:
        """Take the file for this process by renaming it into processing/; None when another
        publisher (or a person) took it first, UnclaimableFile when it cannot be moved (no
        permission, name too long, disk full, …): it stays where it is. ``expected``: the
        (size, mtime_ns) that made it look complete, checked again once it is read."""
        source = self.root / relpath
        destination = self.claims / relpath
        try:
            target = Path(os.path.realpath(source)) if source.is_symlink() else None
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, destination)
        except FileNotFoundError:
            return None
        except OSError as exc:
            detail = f"cannot claim the file: {exc.strerror}"
            raise UnclaimableFile(_errno_name(exc), detail) from None
        return Claim(relpath, destination, target, expected)

    def read(self, claim: Claim, max_bytes: int) -> bytes:
        """The claimed file's bytes, or RefusedFile saying why they cannot be had.

        The checks are made on the opened descriptor, never on a path that could be swapped
        (for a symlink to another file) between the check and the read: the path is opened
        with O_NOFOLLOW, and what was opened must be a regular file that lies inside the inbox.
        O_NONBLOCK: opening a FIFO must not wait for a writer."""
        path = claim.path if claim.target is None else claim.target
        if claim.target is not None:
            self._check_inside(claim.target)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise RefusedFile("vanished", "the file disappeared before it could be read") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the last component is a link now: it was swapped
                raise RefusedFile(
                    "symlink-swapped", "the file was replaced by a symbolic link after its check"
                ) from None
            raise RefusedFile("unreadable", f"cannot read the file: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
                raise RefusedFile("not-a-file", f"not a regular file ({_file_type(st.st_mode)})")
            # A directory on the way may have been swapped for a link: what was opened must
            # be the claimed file itself, or a link's target still inside the inbox.
            opened = Path(_opened_path(fd, path))
            if claim.target is not None:
                self._check_inside(opened)
            elif opened != self.claims.resolve() / claim.relpath:
                raise RefusedFile(
                    "symlink-swapped", "a directory of the claimed file was replaced by a link"
                )
            if st.st_size > max_bytes:
                raise RefusedFile(
                    "file-too-large",
                    f"file of {st.st_size:,} bytes is over the limit of {max_bytes:,}",
                )
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(max_bytes + 1)
            self._check_unchanged(claim, os.fstat(fd))
        except OSError as exc:
            raise RefusedFile("unreadable", f"cannot read the file: {exc.strerror}") from None
        finally:
            os.close(fd)
        if len(data) > max_bytes:  # it grew after the stat
            raise RefusedFile("file-too-large", f"file is over the limit of {max_bytes:,} bytes")
        return data

    @staticmethod
    def _check_unchanged(claim: Claim, st: os.stat_result) -> None:
        """The bytes just read are the file that looked complete only when its size and mtime
        (of the descriptor, after the read) are still those; a symlink's own are no measure
        of its target, so it is not checked."""
        if claim.expected is None or claim.target is not None:
            return
        if (st.st_size, st.st_mtime_ns) != claim.expected:
            raise ChangedFile(
                f"changed while it was read: {claim.expected} became "
                f"{(st.st_size, st.st_mtime_ns)} (size, mtime_ns)"
            )

    def _check_inside(self, target: Path) -> None:
        """A link target must be inside the inbox and outside the spool's own directories."""
        inbox = self.root.resolve()
        inside = target.is_relative_to(inbox)
        spool_dir = inside and target.relative_to(inbox).parts[:1] in [(name,) for name in RESERVED]
        if not inside or spool_dir:
            raise RefusedFile(
                "symlink-outside-inbox", f"symlink points outside the inbox: {target}"
            )

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
        """Put the files of dead publishers' claims back in the inbox; return their paths.
        Another publisher may be recovering the same claim at the same time: a file it took
        first is simply not ours to move."""
        recovered: list[str] = []
        for claim_dir in sorted((self.root / PROCESSING).glob("*")):
            if claim_dir.name == self.owner or not claim_dir.is_dir():
                continue
            # A claim directory we may not read or change (another user's, immutable) keeps
            # what it holds: it must stop neither the recovery of the others nor the publisher.
            try:
                if self._is_stale(claim_dir, timeout_s):
                    self._recover_claim(claim_dir, recovered)
            except OSError as exc:
                log.warning("a dead publisher's claim cannot be recovered; will retry",
                            claim=claim_dir.name, error=str(exc))  # fmt: skip
        return recovered

    def _recover_claim(self, claim_dir: Path, recovered: list[str]) -> None:
        for relpath, _ in list(self._walk(claim_dir, "")):
            if self.recover_file(claim_dir, relpath):
                recovered.append(relpath)
        (claim_dir / HEARTBEAT).unlink(missing_ok=True)
        _remove_empty_dirs(claim_dir)

    def mark_done(self, claim: Claim, *, published: bool) -> Claim:
        """Rename a claimed file that Kafka has already committed but that could not be moved
        on, so that whoever recovers the claim moves it on rather than publishing it again."""
        mark = ".published" if published else ".refused"
        marked = claim.path.with_name(claim.path.name + mark)
        os.rename(claim.path, marked)  # same directory: needs no new space
        return dataclasses.replace(claim, path=marked)

    def recover_file(self, claim_dir: Path, relpath: str) -> bool:
        """Move one file of a dead claim back to the inbox (or on, when it was committed
        already); False when it is gone already (another publisher recovered it) or cannot be
        moved now (it is tried again later)."""
        destination = self.root / relpath
        for mark, directory in DONE_MARKS.items():
            if relpath.endswith(mark):
                destination = self.root / directory / relpath.removesuffix(mark)
        try:
            _move(claim_dir / relpath, _unique(destination))
        except FileNotFoundError:  # the other publisher was first
            return False
        except OSError as exc:
            log.warning("a file of a dead publisher's claim cannot be moved back; will retry",
                        source=source_text(relpath), claim=claim_dir.name,
                        error=exc.strerror)  # fmt: skip
            return False
        return True

    def _is_stale(self, claim_dir: Path, timeout_s: float) -> bool:
        host, pid = _parse_owner(claim_dir.name)
        same_host = host == socket.gethostname() and pid is not None
        if same_host and (pid == os.getpid() or not pid_alive(pid)):
            return True  # an earlier incarnation of this process, or a dead neighbour
        try:
            beat = (claim_dir / HEARTBEAT).stat().st_mtime
        except FileNotFoundError:
            try:
                beat = claim_dir.stat().st_mtime
            except FileNotFoundError:
                return False  # recovered by another publisher meanwhile
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
