"""Spool on a real filesystem (tmp_path): scanning, atomic claims, where files go afterwards,
refusing what cannot be read, and taking back the claims of dead publishers. No Kafka."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from streamsuite_publisher.spool import (
    HEARTBEAT,
    Claim,
    RefusedFile,
    Spool,
    new_owner_id,
)

HOST = socket.gethostname()


def _write(path: Path, data: bytes | str = b"{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def _spool(root: Path, owner: str | None = None, **kw) -> Spool:
    spool = Spool(root, owner or f"{HOST}.{os.getpid()}.{os.urandom(4).hex()}", **kw)
    spool.prepare()
    return spool


def _files(root: Path) -> set[str]:
    """Every file below ``root`` (relative), heartbeats included."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _claim_dir(root: Path, owner: str, files: dict[str, bytes], beat_age_s: float | None = 0):
    """A claim directory as another publisher would have left it."""
    claims = root / "processing" / owner
    claims.mkdir(parents=True)
    for relpath, data in files.items():
        _write(claims / relpath, data)
    if beat_age_s is not None:
        beat = claims / HEARTBEAT
        beat.touch()
        moment = time.time() - beat_age_s
        os.utime(beat, (moment, moment))
    return claims


# --- prepare / owner ---


def test_prepare_creates_the_spool_dirs_and_a_heartbeat(tmp_path):
    spool = _spool(tmp_path)
    for name in ("processing", "processed", "error"):
        assert (tmp_path / name).is_dir()
    assert (spool.claims / HEARTBEAT).is_file()
    assert spool.claims == tmp_path / "processing" / spool.owner


def test_owner_id_is_host_pid_token_and_unique_per_incarnation():
    first, second = new_owner_id(), new_owner_id()
    host, pid, token = first.rsplit(".", 2)
    assert host == HOST
    assert pid == str(os.getpid())
    assert len(token) == 8
    assert first != second


def test_heartbeat_refreshes_the_mtime(tmp_path):
    spool = _spool(tmp_path)
    beat = spool.claims / HEARTBEAT
    os.utime(beat, (1, 1))
    spool.heartbeat()
    assert beat.stat().st_mtime > time.time() - 60


# --- scan ---


def test_scan_finds_candidates_recursively_with_size_and_mtime(tmp_path):
    spool = _spool(tmp_path)
    a = _write(tmp_path / "a.json", b'{"a": 1}')
    _write(tmp_path / "sub" / "deeper" / "b.YAML", b"b: 2\n")
    _write(tmp_path / "sub" / "c.jsonl", b"")
    found = spool.scan()
    assert set(found) == {"a.json", "sub/deeper/b.YAML", "sub/c.jsonl"}
    assert found["a.json"] == (8, a.stat().st_mtime_ns)
    assert found["sub/c.jsonl"][0] == 0


def test_scan_skips_spool_dirs_hidden_and_temporary_and_unknown_files(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "processing" / "other.1.abcd" / "x.json")
    _write(tmp_path / "processed" / "done.json")
    _write(tmp_path / "error" / "bad.json")
    _write(tmp_path / "error" / "bad.json.error.json")
    _write(tmp_path / ".hidden.json")
    _write(tmp_path / ".git" / "inside.json")
    _write(tmp_path / "sub" / ".cache" / "inside.json")
    _write(tmp_path / "upload.json.part")
    _write(tmp_path / "edit.yaml.swp")
    _write(tmp_path / "notes.txt")
    _write(tmp_path / "keep.json")
    _write(tmp_path / "sub" / "processed" / "nested.json")  # reserved only at the top
    assert set(spool.scan()) == {"keep.json", "sub/processed/nested.json"}


def test_scan_of_an_empty_or_missing_inbox_finds_nothing(tmp_path):
    assert _spool(tmp_path).scan() == {}
    assert Spool(tmp_path / "missing", "h.1.t").scan() == {}


def test_scan_lists_symlinks_with_their_own_size(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "real.json", b'{"long": "content here"}')
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    found = spool.scan()
    assert set(found) == {"real.json", "link.json"}
    assert found["link.json"][0] == (tmp_path / "link.json").lstat().st_size


def test_scan_does_not_follow_directory_symlinks(tmp_path):
    spool = _spool(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    _write(outside / "secret.json")
    (tmp_path / "linked-dir").symlink_to(outside, target_is_directory=True)
    assert spool.scan() == {}


# --- claim / release ---


def test_claim_renames_the_file_into_this_owners_processing_dir(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "sub" / "a.json", b'{"a": 1}')
    claim = spool.claim("sub/a.json")
    assert claim is not None
    assert claim.relpath == "sub/a.json"
    assert claim.path == tmp_path / "processing" / spool.owner / "sub" / "a.json"
    assert claim.path.read_bytes() == b'{"a": 1}'
    assert claim.target is None
    assert not (tmp_path / "sub" / "a.json").exists()
    assert "sub/a.json" not in spool.scan()


def test_a_second_claim_of_the_same_path_returns_none(tmp_path):
    first = _spool(tmp_path)
    second = _spool(tmp_path)
    _write(tmp_path / "a.json")
    assert first.claim("a.json") is not None
    assert second.claim("a.json") is None
    assert first.claim("a.json") is None
    assert _files(tmp_path / "processing" / first.owner) == {"a.json", HEARTBEAT}
    assert _files(tmp_path / "processing" / second.owner) == {HEARTBEAT}


def test_claim_of_a_path_that_never_existed_returns_none(tmp_path):
    assert _spool(tmp_path).claim("nope.json") is None


def test_release_puts_a_claimed_file_back(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "d" / "a.json", b"[1]")
    claim = spool.claim("d/a.json")
    spool.release(claim)
    assert (tmp_path / "d" / "a.json").read_bytes() == b"[1]"
    assert not claim.path.exists()
    assert "d/a.json" in spool.scan()


def test_release_never_overwrites_a_new_file_of_the_same_name(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "a.json", b"old")
    claim = spool.claim("a.json")
    _write(tmp_path / "a.json", b"new")
    spool.release(claim)
    assert (tmp_path / "a.json").read_bytes() == b"new"
    assert (tmp_path / "a.1.json").read_bytes() == b"old"


# --- finishing ---


def test_finish_published_moves_to_processed_keeping_the_relative_path(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "x" / "y" / "a.json", b"[1]")
    claim = spool.claim("x/y/a.json")
    spool.finish_published(claim)
    assert (tmp_path / "processed" / "x" / "y" / "a.json").read_bytes() == b"[1]"
    assert not claim.path.exists()
    assert list((tmp_path / "error").iterdir()) == []


def test_finish_published_never_overwrites_an_existing_processed_file(tmp_path):
    spool = _spool(tmp_path)
    for content in (b"first", b"second", b"third"):
        _write(tmp_path / "a.json", content)
        spool.finish_published(spool.claim("a.json"))
    processed = tmp_path / "processed"
    assert (processed / "a.json").read_bytes() == b"first"
    assert (processed / "a.1.json").read_bytes() == b"second"
    assert (processed / "a.2.json").read_bytes() == b"third"


def test_finish_published_with_a_report_writes_it_to_error(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "d" / "m.jsonl", b'{"a":1}\nbad\n')
    report = {"reason": "invalid-json", "refused": [{"line": 2}]}
    spool.finish_published(spool.claim("d/m.jsonl"), report)
    assert (tmp_path / "processed" / "d" / "m.jsonl").exists()
    written = tmp_path / "error" / "d" / "m.jsonl.error.json"
    assert json.loads(written.read_text()) == report
    assert not (tmp_path / "error" / "d" / "m.jsonl").exists()  # the file itself was published
    assert not list((tmp_path / "error").rglob("*.tmp"))


def test_a_second_partial_report_for_the_same_name_does_not_replace_the_first(tmp_path):
    spool = _spool(tmp_path)
    for n in (1, 2):
        _write(tmp_path / "m.jsonl", b'{"a":1}\nbad\n')
        spool.finish_published(spool.claim("m.jsonl"), {"run": n})
    reports = sorted((tmp_path / "error").glob("m*.error.json"))
    assert sorted(json.loads(p.read_text())["run"] for p in reports) == [1, 2]


def test_delete_published_deletes_the_file(tmp_path):
    spool = _spool(tmp_path, delete_published=True)
    _write(tmp_path / "d" / "a.json")
    claim = spool.claim("d/a.json")
    spool.finish_published(claim)
    assert not claim.path.exists()
    assert not (tmp_path / "d" / "a.json").exists()
    assert _files(tmp_path / "processed") == set()


def test_delete_published_still_writes_the_report(tmp_path):
    spool = _spool(tmp_path, delete_published=True)
    _write(tmp_path / "m.jsonl")
    spool.finish_published(spool.claim("m.jsonl"), {"reason": "invalid-json"})
    assert json.loads((tmp_path / "error" / "m.jsonl.error.json").read_text()) == {
        "reason": "invalid-json"
    }


def test_finish_refused_moves_to_error_with_the_report_beside_it(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "in" / "bad.json", b"{oops")
    report = {"source": "in/bad.json", "reason": "invalid-json", "detail": "é"}
    claim = spool.claim("in/bad.json")
    spool.finish_refused(claim, report)
    assert (tmp_path / "error" / "in" / "bad.json").read_bytes() == b"{oops"
    written = tmp_path / "error" / "in" / "bad.json.error.json"
    assert json.loads(written.read_text(encoding="utf-8")) == report
    assert not claim.path.exists()
    assert _files(tmp_path / "processed") == set()


def test_finish_refused_twice_keeps_both_files_and_both_reports(tmp_path):
    spool = _spool(tmp_path)
    for n in (1, 2):
        _write(tmp_path / "bad.json", f"bad {n}")
        spool.finish_refused(spool.claim("bad.json"), {"n": n})
    error = tmp_path / "error"
    assert (error / "bad.json").read_text() == "bad 1"
    assert json.loads((error / "bad.json.error.json").read_text()) == {"n": 1}
    assert (error / "bad.1.json").read_text() == "bad 2"
    assert json.loads((error / "bad.1.json.error.json").read_text()) == {"n": 2}


# --- read ---


def test_read_returns_the_claimed_bytes(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "a.json", b'{"a": 1}')
    assert spool.read(spool.claim("a.json"), max_bytes=100) == b'{"a": 1}'


def test_read_accepts_a_file_of_exactly_max_bytes(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "a.json", b"x" * 10)
    assert spool.read(spool.claim("a.json"), max_bytes=10) == b"x" * 10


def test_read_refuses_a_file_over_max_bytes(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "big.json", b"x" * 11)
    with pytest.raises(RefusedFile) as caught:
        spool.read(spool.claim("big.json"), max_bytes=10)
    assert caught.value.reason == "file-too-large"
    assert "11" in caught.value.detail


def test_read_refuses_a_symlink_pointing_outside_the_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    spool = _spool(inbox)
    secret = _write(tmp_path / "secret.json", b'{"password": "x"}')
    (inbox / "link.json").symlink_to(secret)
    claim = spool.claim("link.json")
    assert claim.target == secret.resolve()
    with pytest.raises(RefusedFile) as caught:
        spool.read(claim, max_bytes=1000)
    assert caught.value.reason == "symlink-outside-inbox"
    assert secret.read_bytes() == b'{"password": "x"}'  # untouched


def test_read_refuses_a_relative_symlink_climbing_out_of_the_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    spool = _spool(inbox)
    _write(tmp_path / "secret.json")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "link.json").symlink_to("../../secret.json")
    with pytest.raises(RefusedFile) as caught:
        spool.read(spool.claim("sub/link.json"), max_bytes=1000)
    assert caught.value.reason == "symlink-outside-inbox"


def test_read_refuses_a_symlink_into_the_spools_own_dirs(tmp_path):
    spool = _spool(tmp_path)
    done = _write(tmp_path / "processed" / "done.json", b"[1]")
    (tmp_path / "again.json").symlink_to(done)
    with pytest.raises(RefusedFile) as caught:
        spool.read(spool.claim("again.json"), max_bytes=1000)
    assert caught.value.reason == "symlink-outside-inbox"


def test_read_follows_a_symlink_to_a_file_inside_the_inbox(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "data" / "real.json", b'{"real": true}')
    (tmp_path / "link.json").symlink_to("data/real.json")  # relative: dangles once moved
    claim = spool.claim("link.json")
    assert claim.path.is_symlink()
    assert spool.read(claim, max_bytes=1000) == b'{"real": true}'


def test_read_of_a_symlinked_inbox_path_still_accepts_links_inside_it(tmp_path):
    real = tmp_path / "real-inbox"
    real.mkdir()
    alias = tmp_path / "alias-inbox"
    alias.symlink_to(real, target_is_directory=True)
    spool = _spool(alias)
    _write(real / "real.json", b"[2]")
    (real / "link.json").symlink_to(real / "real.json")
    assert spool.read(spool.claim("link.json"), max_bytes=1000) == b"[2]"


def test_read_refuses_a_dangling_symlink_outside_the_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    spool = _spool(inbox)
    (inbox / "dangling.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(RefusedFile) as caught:
        spool.read(spool.claim("dangling.json"), max_bytes=1000)
    assert caught.value.reason == "symlink-outside-inbox"


def test_read_refuses_a_file_that_vanished_after_the_claim(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "a.json")
    claim = spool.claim("a.json")
    claim.path.unlink()
    with pytest.raises(RefusedFile) as caught:
        spool.read(claim, max_bytes=1000)
    assert caught.value.reason == "vanished"


def test_read_refuses_a_directory_named_like_a_document(tmp_path):
    spool = _spool(tmp_path)
    claims = spool.claims / "dir.json"
    claims.mkdir()
    with pytest.raises(RefusedFile) as caught:
        spool.read(Claim("dir.json", claims), max_bytes=1_000_000)
    assert caught.value.reason == "not-a-file"


def test_read_refuses_a_symlink_to_a_fifo_without_blocking(tmp_path):
    spool = _spool(tmp_path)
    fifo = tmp_path / "sub" / "pipe"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    (tmp_path / "p.json").symlink_to(fifo)
    claim = spool.claim("p.json")
    outcome: dict[str, object] = {}

    def read() -> None:
        try:
            outcome["data"] = spool.read(claim, max_bytes=1000)
        except RefusedFile as exc:
            outcome["reason"] = exc.reason

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=1)
    blocked = reader.is_alive()
    if blocked:  # unblock the reader (a writer that opens and closes: EOF), never leak it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=5)
    assert not blocked, "Spool.read blocked on a FIFO"
    assert "reason" in outcome


# --- names that are not UTF-8, claims that fail, swapped links, FIFOs ---


def test_scan_and_claim_keep_a_name_that_is_not_utf8(tmp_path):
    spool = _spool(tmp_path)
    name = os.fsdecode(b"caf\xe9.json")  # Latin-1 é: the name's bytes are not UTF-8
    _write(tmp_path / name)
    assert list(spool.scan()) == [name]
    claim = spool.claim(name)
    assert claim.source == "caf\\xe9.json"  # what is sent: the byte, escaped
    assert os.fsencode(claim.path.name) == b"caf\xe9.json"


def test_a_claim_whose_path_gets_too_long_is_unclaimable_not_a_crash(tmp_path):
    from streamsuite_publisher.spool import UnclaimableFile

    spool = _spool(tmp_path)
    # Below the kernel's 4,096-byte path limit in the inbox, above it once in processing/.
    parts: list[str] = []
    while 4080 - (len(str(tmp_path)) + 201 * len(parts) + 1) > 250:  # a name has ≤ 255 bytes
        parts.append("d" * 200)
    used = len(str(tmp_path)) + 201 * len(parts) + 1
    relpath = "/".join([*parts, "x" * (4080 - used - 5) + ".json"])
    assert len(str(tmp_path / relpath)) == 4080
    directory = tmp_path
    for part in parts:  # one level at a time, each path shorter than the limit
        directory = directory / part
        directory.mkdir()
    _write(tmp_path / relpath)
    assert relpath in spool.scan()
    with pytest.raises(UnclaimableFile) as caught:
        spool.claim(relpath)
    assert caught.value.reason == "ENAMETOOLONG"
    assert (tmp_path / relpath).is_file()  # left where it was


def test_a_claim_refused_by_the_filesystem_is_unclaimable_not_a_crash(tmp_path):
    from streamsuite_publisher.spool import UnclaimableFile

    spool = _spool(tmp_path)
    _write(tmp_path / "sub" / "a.json")
    # processing/<owner>/sub exists as a file: the claim's directory cannot be made (EEXIST,
    # as EACCES/EPERM for a directory this user may not write; root ignores permissions).
    _write(spool.claims / "sub", b"")
    with pytest.raises(UnclaimableFile) as caught:
        spool.claim("sub/a.json")
    assert caught.value.reason in ("EEXIST", "ENOTDIR")
    assert (tmp_path / "sub" / "a.json").is_file()


@pytest.fixture
def locked_file(tmp_path):
    """A file the publisher may not move: its directory read-only (EACCES) for a normal user;
    for root, who ignores permissions, the file immutable (EPERM, `chattr +i`)."""
    path = _write(tmp_path / "locked" / "a.json")
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        yield path, "EPERM"
        subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.parent.chmod(0o555)
        yield path, "EACCES"
        path.parent.chmod(0o755)


def test_a_claim_refused_for_lack_of_permission_is_unclaimable_not_a_crash(tmp_path, locked_file):
    from streamsuite_publisher.spool import UnclaimableFile

    path, code = locked_file
    spool = _spool(tmp_path)
    with pytest.raises(UnclaimableFile) as caught:
        spool.claim("locked/a.json")
    assert caught.value.reason == code
    assert "not permitted" in caught.value.detail or "denied" in caught.value.detail
    assert path.is_file()


def test_read_refuses_a_claimed_file_swapped_for_a_symlink(tmp_path):
    """The check-then-open race: the claim saw a plain file; by the time it is read, the name
    is a link to a secret. What is opened must be checked, not what was checked opened."""
    inbox = tmp_path / "inbox"
    spool = _spool(inbox)
    secret = _write(tmp_path / "secret.json", b'{"password": "x"}')
    _write(inbox / "a.json", b"{}")
    claim = spool.claim("a.json")
    assert claim.target is None
    claim.path.unlink()
    claim.path.symlink_to(secret)  # the swap
    with pytest.raises(RefusedFile) as caught:
        spool.read(claim, max_bytes=1000)
    assert caught.value.reason == "symlink-swapped"


def test_read_refuses_a_claimed_file_whose_directory_was_swapped_for_a_link(tmp_path):
    inbox = tmp_path / "inbox"
    spool = _spool(inbox)
    _write(tmp_path / "outside" / "a.json", b'{"password": "x"}')
    _write(inbox / "sub" / "a.json", b"{}")
    claim = spool.claim("sub/a.json")
    os.rename(claim.path.parent, tmp_path / "moved-away")
    claim.path.parent.symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(RefusedFile) as caught:
        spool.read(claim, max_bytes=1000)
    assert caught.value.reason == "symlink-swapped"


def test_read_refuses_a_link_target_swapped_for_a_link_outside(tmp_path):
    inbox = tmp_path / "inbox"
    spool = _spool(inbox)
    secret = _write(tmp_path / "secret.json", b'{"password": "x"}')
    real = _write(inbox / "data" / "real.json", b"{}")
    (inbox / "link.json").symlink_to(real)
    claim = spool.claim("link.json")
    real.unlink()
    real.symlink_to(secret)  # the target itself became a link out of the inbox
    with pytest.raises(RefusedFile) as caught:
        spool.read(claim, max_bytes=1000)
    assert caught.value.reason == "symlink-swapped"


def test_read_refuses_a_link_whose_directory_was_swapped_for_a_link_outside(tmp_path):
    inbox = tmp_path / "inbox"
    spool = _spool(inbox)
    outside = tmp_path / "outside"
    _write(outside / "real.json", b'{"password": "x"}')
    _write(inbox / "data" / "real.json", b"{}")
    (inbox / "link.json").symlink_to(inbox / "data" / "real.json")
    claim = spool.claim("link.json")
    os.rename(inbox / "data", tmp_path / "old-data")
    (inbox / "data").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RefusedFile) as caught:
        spool.read(claim, max_bytes=1000)
    assert caught.value.reason == "symlink-outside-inbox"


def test_a_fifo_in_the_inbox_is_listed_claimed_and_refused_without_blocking(tmp_path):
    spool = _spool(tmp_path)
    os.mkfifo(tmp_path / "pipe.json")
    assert list(spool.scan()) == ["pipe.json"]  # not ignored: it must be refused, visibly
    claim = spool.claim("pipe.json")
    outcome: dict[str, object] = {}

    def read() -> None:
        try:
            outcome["data"] = spool.read(claim, max_bytes=1000)
        except RefusedFile as exc:
            outcome["refused"] = exc

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=5)
    blocked = reader.is_alive()
    if blocked:
        os.close(os.open(claim.path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=5)
    assert not blocked, "Spool.read blocked on a FIFO"
    assert outcome["refused"].reason == "not-a-file"
    assert "FIFO" in outcome["refused"].detail


# --- the default transactional id ---


def test_default_transactional_id_is_stable_per_inbox_and_replica(tmp_path):
    first, second = _spool(tmp_path), _spool(tmp_path)
    one, two = first.default_transactional_id(), second.default_transactional_id()
    assert one.startswith("streamsuite-publisher-")  # the chart's ACL prefix
    assert one != two  # two publishers of one inbox: two ids
    assert (one.rsplit("-", 1)[1], two.rsplit("-", 1)[1]) == ("0", "1")
    first.close()
    # A restart takes the slot (and so the id) its predecessor left, not a new one.
    assert _spool(tmp_path).default_transactional_id() == one
    assert _spool(tmp_path / "other").default_transactional_id() not in (one, two)


def test_a_killed_publishers_replica_slot_is_free_again(tmp_path):
    script = (
        "import sys, pathlib\n"
        "from streamsuite_publisher.spool import Spool\n"
        "print(Spool(pathlib.Path(sys.argv[1])).default_transactional_id(), flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    held = child.stdout.readline().strip()
    assert _spool(tmp_path).default_transactional_id() != held
    child.kill()
    child.wait(30)
    assert _spool(tmp_path).default_transactional_id() == held


# --- recovering the claims of dead publishers ---


def test_recover_stale_puts_back_the_files_of_a_dead_process_on_this_host(tmp_path):
    spool = _spool(tmp_path)
    owner = f"{HOST}.{_dead_pid()}.deadbeef"
    claims = _claim_dir(tmp_path, owner, {"a.json": b"[1]", "sub/b.yaml": b"b: 2\n"})
    recovered = spool.recover_stale(timeout_s=3600)
    assert sorted(recovered) == ["a.json", "sub/b.yaml"]
    assert (tmp_path / "a.json").read_bytes() == b"[1]"
    assert (tmp_path / "sub" / "b.yaml").read_bytes() == b"b: 2\n"
    assert not claims.exists()
    assert set(spool.scan()) == {"a.json", "sub/b.yaml"}


def test_two_publishers_recovering_one_dead_claim_both_carry_on(tmp_path):
    first, second = _spool(tmp_path), _spool(tmp_path)
    claims = _claim_dir(
        tmp_path, f"{HOST}.{_dead_pid()}.deadbeef", {f"f{n}.json": b"{}" for n in range(3)}
    )
    # The second listed the dead claim's files just before the first moved them all.
    listed = sorted(relpath for relpath, _ in second._walk(claims, ""))
    assert sorted(first.recover_stale(timeout_s=3600)) == listed
    assert [second.recover_file(claims, relpath) for relpath in listed] == [False] * 3
    assert second.recover_stale(timeout_s=3600) == []
    assert sorted(first.scan()) == listed  # each file back once


def test_two_publishers_recovering_at_once_never_raise(tmp_path):
    first, second = _spool(tmp_path), _spool(tmp_path)
    count = 2000
    _claim_dir(
        tmp_path, f"{HOST}.{_dead_pid()}.deadbeef", {f"d/f{n}.json": b"{}" for n in range(count)}
    )
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def recover(name: str, spool: Spool) -> None:
        start.wait()
        try:
            results[name] = spool.recover_stale(timeout_s=3600)
        except Exception as exc:  # the test asserts there is none
            results[name] = exc

    threads = [
        threading.Thread(target=recover, args=(n, s)) for n, s in (("a", first), ("b", second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(r, list) for r in results.values()), results
    assert len(results["a"]) + len(results["b"]) == count
    assert len(first.scan()) == count


def test_recover_stale_treats_an_earlier_incarnation_of_this_process_as_dead(tmp_path):
    spool = _spool(tmp_path)
    _claim_dir(tmp_path, f"{HOST}.{os.getpid()}.0ldt0ken", {"a.json": b"[1]"})
    assert spool.recover_stale(timeout_s=3600) == ["a.json"]
    assert (tmp_path / "a.json").exists()


def test_recover_stale_leaves_its_own_claims_alone(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "a.json")
    claim = spool.claim("a.json")
    os.utime(spool.claims / HEARTBEAT, (1, 1))  # even with an old heartbeat
    assert spool.recover_stale(timeout_s=5) == []
    assert claim.path.exists()


def test_recover_stale_keeps_the_claim_of_a_live_process_on_this_host(tmp_path):
    spool = _spool(tmp_path)
    owner = f"{HOST}.{os.getppid()}.11111111"  # our parent: alive
    claims = _claim_dir(tmp_path, owner, {"a.json": b"[1]"}, beat_age_s=0)
    assert spool.recover_stale(timeout_s=60) == []
    assert (claims / "a.json").exists()
    assert not (tmp_path / "a.json").exists()


def test_recover_stale_takes_back_a_live_local_process_claim_without_heartbeat(tmp_path):
    spool = _spool(tmp_path)
    owner = f"{HOST}.{os.getppid()}.22222222"
    _claim_dir(tmp_path, owner, {"a.json": b"[1]"}, beat_age_s=600)
    assert spool.recover_stale(timeout_s=60) == ["a.json"]


def test_recover_stale_treats_a_zombie_as_dead(tmp_path):
    spool = _spool(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        _claim_dir(tmp_path, f"{HOST}.{child.pid}.2b1e0000", {"z.json": b"[]"})
        assert spool.recover_stale(timeout_s=3600) == ["z.json"]
    finally:
        child.wait()


def test_recover_stale_keeps_another_hosts_claim_with_a_fresh_heartbeat(tmp_path):
    spool = _spool(tmp_path)
    claims = _claim_dir(tmp_path, "other-host.1.abcdef01", {"a.json": b"[1]"}, beat_age_s=1)
    assert spool.recover_stale(timeout_s=60) == []
    assert (claims / "a.json").read_bytes() == b"[1]"
    assert (claims / HEARTBEAT).exists()


def test_recover_stale_takes_back_another_hosts_claim_with_an_old_heartbeat(tmp_path):
    spool = _spool(tmp_path)
    claims = _claim_dir(tmp_path, "other-host.1.abcdef01", {"d/a.json": b"[1]"}, beat_age_s=61)
    assert spool.recover_stale(timeout_s=60) == ["d/a.json"]
    assert (tmp_path / "d" / "a.json").read_bytes() == b"[1]"
    assert not claims.exists()


def test_recover_stale_uses_the_claim_dirs_mtime_when_there_is_no_heartbeat(tmp_path):
    spool = _spool(tmp_path)
    fresh = _claim_dir(tmp_path, "h1.1.aaaaaaaa", {"f.json": b"1"}, beat_age_s=None)
    old = _claim_dir(tmp_path, "h2.1.bbbbbbbb", {"o.json": b"2"}, beat_age_s=None)
    moment = time.time() - 1000
    os.utime(old, (moment, moment))
    assert spool.recover_stale(timeout_s=60) == ["o.json"]
    assert (fresh / "f.json").exists()


def test_recover_stale_parses_an_owner_whose_hostname_has_dots(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "node-1.example.com")
    spool = _spool(tmp_path, owner=f"node-1.example.com.{os.getpid()}.cafe0001")
    _claim_dir(tmp_path, f"node-1.example.com.{_dead_pid()}.cafe0002", {"a.json": b"[]"})
    assert spool.recover_stale(timeout_s=3600) == ["a.json"]


def test_recover_stale_never_overwrites_a_file_that_came_back_meanwhile(tmp_path):
    spool = _spool(tmp_path)
    _claim_dir(tmp_path, f"{HOST}.{_dead_pid()}.0000beef", {"a.json": b"claimed"})
    _write(tmp_path / "a.json", b"newer")
    assert spool.recover_stale(timeout_s=3600) == ["a.json"]
    assert (tmp_path / "a.json").read_bytes() == b"newer"
    assert (tmp_path / "a.1.json").read_bytes() == b"claimed"


def test_recover_stale_ignores_stray_files_in_processing(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "processing" / "stray.json", b"[]")
    assert spool.recover_stale(timeout_s=5) == []
    assert (tmp_path / "processing" / "stray.json").exists()


# --- close ---


def test_close_removes_an_empty_claim_dir(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "d" / "e" / "a.json")
    spool.finish_published(spool.claim("d/e/a.json"))  # leaves empty d/e in the claim dir
    spool.close()
    assert not spool.claims.exists()
    assert (tmp_path / "processing").is_dir()


def test_close_never_deletes_a_claimed_file(tmp_path):
    spool = _spool(tmp_path)
    _write(tmp_path / "d" / "a.json", b"keep me")
    claim = spool.claim("d/a.json")
    spool.close()
    assert claim.path.read_bytes() == b"keep me"
    assert not (spool.claims / HEARTBEAT).exists()


def test_a_claim_left_by_close_is_recovered_by_the_next_incarnation(tmp_path):
    before = _spool(tmp_path, owner=f"{HOST}.{os.getpid()}.aaaa0001")
    _write(tmp_path / "a.json", b"[7]")
    before.claim("a.json")
    before.close()
    after = _spool(tmp_path, owner=f"{HOST}.{os.getpid()}.aaaa0002")
    assert after.recover_stale(timeout_s=3600) == ["a.json"]
    assert (tmp_path / "a.json").read_bytes() == b"[7]"
    assert not before.claims.exists()


@pytest.fixture
def locked_dead_claim(tmp_path):
    """A dead publisher's claim directory we may not change: another user's (read-only) for a
    normal user; for root, who ignores permissions, immutable (`chattr +i`)."""
    claims = _claim_dir(tmp_path, f"{HOST}.{_dead_pid()}.10cked00", {"stuck.json": b"[1]"})
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(claims)], check=True)
        yield claims
        subprocess.run(["chattr", "-i", str(claims)], check=True)
    else:
        claims.chmod(0o555)
        yield claims
        claims.chmod(0o755)


def test_a_dead_claim_we_may_not_change_stops_neither_recovery_nor_the_caller(
    tmp_path, locked_dead_claim
):
    spool = _spool(tmp_path)
    _claim_dir(tmp_path, f"{HOST}.{_dead_pid()}.0therdead", {"other.json": b"[2]"})
    assert spool.recover_stale(timeout_s=3600) == ["other.json"]
    assert (tmp_path / "other.json").read_bytes() == b"[2]"
    assert (locked_dead_claim / "stuck.json").read_bytes() == b"[1]"


def test_heartbeat_makes_the_claim_directory_again_when_it_was_removed(tmp_path):
    spool = _spool(tmp_path)
    (spool.claims / HEARTBEAT).unlink()
    spool.claims.rmdir()
    spool.heartbeat()
    assert (spool.claims / HEARTBEAT).is_file()
