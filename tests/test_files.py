"""Atomic writes (jaxoff/_files.py): a crash mid-write leaves the old file intact, no stray temp."""

import os
import subprocess
import sys
import textwrap

import pytest

from jaxoff._files import atomic_path, atomic_write_bytes, atomic_write_text


def _listing(d):
    return sorted(os.listdir(d))


def test_write_text_and_bytes(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "héllo\n")
    assert p.read_text(encoding="utf-8") == "héllo\n"
    atomic_write_bytes(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert _listing(tmp_path) == ["a.txt"]


def test_exception_mid_write_keeps_old_file(tmp_path):
    p = tmp_path / "table.csv"
    p.write_text("old,complete\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(p) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".csv"
            with open(tmp, "w") as fh:
                fh.write("new,trunc")  # half-written content
            raise RuntimeError("boom")
    assert p.read_text() == "old,complete\n"
    assert _listing(tmp_path) == ["table.csv"]  # no stray temporary


class _Killed(BaseException):
    """Like KeyboardInterrupt/SystemExit: not an Exception (a real interrupt is tested by SIGKILL below)."""


def test_base_exception_mid_write_keeps_old_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{}")
    with pytest.raises(_Killed):
        with atomic_path(p) as tmp:
            tmp.write_text('{"a": ')
            raise _Killed
    assert p.read_text() == "{}"
    assert _listing(tmp_path) == ["x.json"]


def test_writer_that_creates_nothing_is_an_error(tmp_path):
    p = tmp_path / "fig.png"
    with pytest.raises(FileNotFoundError):
        with atomic_path(p) as tmp:
            os.unlink(tmp)
    assert not p.exists() and _listing(tmp_path) == []


def test_suffix_and_unique_names(tmp_path):
    p = tmp_path / "out.npz"
    with atomic_path(p, suffix=".npz") as t1, atomic_path(tmp_path / "out.npz") as t2:
        assert t1 != t2 and t1.name.endswith(".npz")
        t1.write_bytes(b"1")
        t2.write_bytes(b"2")
    assert p.read_bytes() == b"1"  # t2 exits first, t1 last: the last replace wins, never a mix
    assert _listing(tmp_path) == ["out.npz"]


def test_process_killed_mid_write_leaves_old_file(tmp_path):
    """A real SIGKILL while the temporary file is half-written: the target keeps its old content."""
    p = tmp_path / "big.csv"
    p.write_text("old\n")
    code = textwrap.dedent(f"""
        import os, sys
        from jaxoff._files import atomic_path
        with atomic_path({str(p)!r}) as tmp:
            with open(tmp, "w") as fh:
                fh.write("partial")
                fh.flush()
                os.kill(os.getpid(), 9)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert r.returncode != 0
    assert p.read_text() == "old\n"
    # SIGKILL cannot clean up: a hidden temp may remain, but it never shadows the target
    assert all(n == "big.csv" or (n.startswith(".big.csv.") and n.endswith(".tmp.csv"))
               for n in _listing(tmp_path))
