"""Atomic output: the final name appears only with complete bytes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from framefill.atomic import (
    TEMP_MARKER,
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    is_temp_name,
    remove_stale_temps,
)
from framefill.errors import InputError
from framefill.frames import FramePattern

CORE = Path(__file__).resolve().parents[2] / "core"


def test_success_moves_temp_onto_destination(tmp_path):
    dest = tmp_path / "new" / "deeper" / "frame.0001.exr"
    with atomic_output(dest) as tmp:
        # GIVEN a temporary beside the destination, hidden, with the real suffix
        assert tmp.parent == dest.parent
        assert tmp.name.startswith(".frame.0001.exr.ff-tmp-")
        assert tmp.suffix == ".exr"
        assert is_temp_name(tmp.name)
        assert dest.parent.is_dir()  # parents created
        tmp.write_bytes(b"pixels")
        assert not dest.exists()  # nothing under the final name until the block ends
    assert dest.read_bytes() == b"pixels"
    assert os.listdir(dest.parent) == ["frame.0001.exr"]


def test_replaces_existing_file(tmp_path):
    dest = tmp_path / "f.txt"
    dest.write_text("old")
    atomic_write_text(dest, "new\n")
    assert dest.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["f.txt"]


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ValueError("boom"), id="exception"),
        pytest.param(KeyboardInterrupt(), id="keyboard-interrupt"),
        pytest.param(SystemExit(3), id="system-exit"),
    ],
)
def test_exception_leaves_neither_final_nor_temp(tmp_path, exc):
    dest = tmp_path / "frame.exr"
    seen: list[Path] = []
    with pytest.raises(type(exc)):
        with atomic_output(dest) as tmp:
            seen.append(tmp)
            tmp.write_bytes(b"half a frame")
            raise exc
    assert not dest.exists()
    assert not seen[0].exists()
    assert os.listdir(tmp_path) == []


def test_exception_keeps_previous_file(tmp_path):
    dest = tmp_path / "frame.exr"
    dest.write_bytes(b"good old frame")
    with pytest.raises(RuntimeError):
        with atomic_output(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("writer crashed")
    assert dest.read_bytes() == b"good old frame"
    assert os.listdir(tmp_path) == ["frame.exr"]


def test_block_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(InputError, match="nothing was written"):
        with atomic_output(tmp_path / "x.bin"):
            pass
    assert os.listdir(tmp_path) == []


def test_atomic_write_bytes(tmp_path):
    atomic_write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01\xff")
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01\xff"


def test_long_names_still_fit(tmp_path):
    dest = tmp_path / ("n" * 240 + ".exr")
    with atomic_output(dest) as tmp:
        assert len(tmp.name.encode()) <= 255
        assert tmp.suffix == ".exr" and is_temp_name(tmp.name)
        tmp.write_bytes(b"x")
    assert dest.read_bytes() == b"x"


def test_unwritable_folder_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError) as info:
        atomic_write_bytes(blocker / "sub" / "x.bin", b"x")
    assert str(blocker) in info.value.msg


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(".f.0001.exr.ff-tmp-123-0a1b2c3d.exr", True, id="temp"),
        pytest.param("/a/b/.f.exr.ff-tmp-9-0123456789abcdef.exr", True, id="temp-path"),
        pytest.param(".manifest.json.ff-tmp-1-deadbeef.json", True, id="json-temp"),
        pytest.param(".noext.ff-tmp-1-deadbeef", True, id="no-suffix"),
        pytest.param("f.0001.exr", False, id="frame"),
        pytest.param("f.ff-tmp-1-deadbeef.exr", False, id="not-hidden"),
        pytest.param(".hidden.exr", False, id="hidden-frame"),
        pytest.param(".f.exr.ff-tmp-x-deadbeef.exr", False, id="bad-pid"),
    ],
)
def test_is_temp_name(name, expected):
    assert is_temp_name(name) is expected


def test_remove_stale_temps(tmp_path):
    old = tmp_path / ".a.exr.ff-tmp-1-0123abcd.exr"
    young = tmp_path / ".b.exr.ff-tmp-2-0123abcd.exr"
    frame = tmp_path / "a.0001.exr"
    for p in (old, young, frame):
        p.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(frame, (an_hour_ago, an_hour_ago))
    assert remove_stale_temps(tmp_path, older_than_s=600) == [old]
    assert sorted(os.listdir(tmp_path)) == sorted([young.name, frame.name])
    assert remove_stale_temps(tmp_path / "missing", older_than_s=0) == []


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from framefill.atomic import atomic_output

    dest = Path(sys.argv[1])
    chunk = b"\\xab" * (1 << 20)
    with atomic_output(dest) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(chunk)
            fh.flush()
            print(tmp, flush=True)  # tell the test the write has started
            for _ in range(10_000):  # a "large file" that is never finished
                fh.write(chunk)
                fh.flush()
                time.sleep(0.01)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_killed_writer_leaves_no_file_under_final_name(tmp_path):
    # GIVEN a writer that is part-way through a large file
    dest = tmp_path / "out" / "frame.1001.exr"
    env = {**os.environ, "PYTHONPATH": str(CORE)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(dest)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        tmp_line = proc.stdout.readline().strip()
        assert tmp_line, "writer did not start"
        tmp = Path(tmp_line)
        deadline = time.time() + 10
        while tmp.stat().st_size < 2 << 20 and time.time() < deadline:
            time.sleep(0.01)
        # WHEN it is killed without any chance to clean up
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    # THEN nothing exists under the final name; only a recognisable temporary
    assert proc.returncode == -signal.SIGKILL
    assert not dest.exists()
    leftovers = os.listdir(dest.parent)
    assert leftovers == [tmp.name] and is_temp_name(tmp.name)
    assert tmp.stat().st_size >= 2 << 20
    # AND sequence scans ignore it, and cleaning removes it
    assert FramePattern.parse(str(dest.parent / "frame.####.exr")).scan() == {}
    assert remove_stale_temps(dest.parent, older_than_s=0) == [tmp]
    assert os.listdir(dest.parent) == []


# ---------------------------------------------------------------------------
# Failed writes: one line that names the output (never the hidden temporary) and the fix
# ---------------------------------------------------------------------------


def _no_temp_named(msg: str) -> None:
    assert TEMP_MARKER not in msg and "\n" not in msg, msg


@pytest.mark.parametrize(
    ("code", "match"),
    [
        pytest.param(errno.EROFS, "on a read-only file system; choose another --out folder", id="read-only"),
        pytest.param(errno.EACCES, "permission denied", id="permission"),
        pytest.param(errno.EPERM, "permission denied", id="not-permitted"),
        pytest.param(errno.ENOSPC, "the disk is full", id="disk-full"),
        pytest.param(errno.EDQUOT, "quota", id="quota"),
    ],
)
def test_folder_that_takes_no_new_file(tmp_path, monkeypatch, code, match):
    # GIVEN a folder where creating a file fails (simulated: root ignores chmod)
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    dest = tmp_path / "out" / "f.0001.exr"
    ran = []
    # WHEN writing THEN the block never runs and the error names dest and the fix, exit 2
    with pytest.raises(InputError) as info:
        with atomic_output(dest):
            ran.append(True)
    assert not ran
    msg = info.value.msg
    assert msg.startswith(f"cannot write {dest}: ") and match in msg, msg
    assert info.value.exit_code == 2
    _no_temp_named(msg)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_real_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(InputError) as info:
            atomic_write_text(folder / "a.txt", "x")
        assert "permission denied" in info.value.msg and str(folder / "a.txt") in info.value.msg
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("exc", "match"),
    [
        pytest.param(OSError(errno.ENOSPC, "No space left on device"), "the disk is full", id="enospc-on-write"),
        pytest.param(OSError(errno.EFBIG, "File too large"), "larger than the file system allows", id="efbig"),
    ],
)
def test_write_errors_inside_the_block_name_the_output(tmp_path, exc, match):
    dest = tmp_path / "f.png"
    with pytest.raises(InputError) as info:
        with atomic_output(dest) as tmp:
            tmp.write_bytes(b"part")
            raise exc
    assert str(dest) in info.value.msg and match in info.value.msg
    _no_temp_named(info.value.msg)
    assert os.listdir(tmp_path) == []


def test_permission_error_on_the_temporary_names_the_output(tmp_path):
    dest = tmp_path / "f.png"
    with pytest.raises(InputError) as info:
        with atomic_output(dest) as tmp:
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp))
    assert str(dest) in info.value.msg and "permission denied" in info.value.msg
    _no_temp_named(info.value.msg)


def test_other_os_errors_in_the_block_pass_through(tmp_path):
    # Reading a missing source inside the block is not a write failure: keep it as it is.
    source = tmp_path / "missing-source.exr"
    with pytest.raises(FileNotFoundError):
        with atomic_output(tmp_path / "out.exr"):
            source.read_bytes()


def test_rename_refused_names_the_output(tmp_path, monkeypatch):
    def refuse(src, dst):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, "Permission denied", str(src), str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    dest = tmp_path / "f.txt"
    with pytest.raises(InputError) as info:
        atomic_write_text(dest, "x")
    assert str(dest) in info.value.msg and "permission denied" in info.value.msg
    _no_temp_named(info.value.msg)
    assert os.listdir(tmp_path) == []


def test_disk_full_on_fsync(tmp_path, monkeypatch):
    import framefill.atomic as atomic

    def full(path):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync_file", full)
    with pytest.raises(InputError, match="the disk is full"):
        atomic_write_bytes(tmp_path / "b.bin", b"data")
    assert os.listdir(tmp_path) == []


def test_folder_in_place_of_the_output(tmp_path):
    dest = tmp_path / "f.0001.exr"
    dest.mkdir()
    (dest / "keep").write_text("x")
    with pytest.raises(InputError) as info:
        atomic_write_bytes(dest, b"x")
    assert info.value.msg == (f"cannot write {dest}: a folder of that name is in the way; "
                              "remove or rename it, or choose another output name")
    assert (dest / "keep").read_text() == "x"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param('Failed to write pixel data to image file "/x/.a.exr.ff-tmp-1-deadbeef.exr". No space left on device.',
                     "the disk is full", id="openexr-enospc"),
        pytest.param("Cannot open image file \"/x/.a.ff-tmp-1-deadbeef.exr\". Read-only file system.",
                     "read-only file system", id="openexr-erofs"),
        pytest.param("[Errno 13] Permission denied: '/x/.a.mp4.ff-tmp-1-deadbeef.mp4'", "permission denied",
                     id="ffmpeg-eacces"),
    ],
)
def test_write_error_from_library_text(tmp_path, text, match):
    from framefill.atomic import write_errno, write_error

    assert write_errno(text) is not None
    err = write_error(tmp_path / "a.exr", text)
    assert err.msg.startswith(f"cannot write {tmp_path / 'a.exr'}: ") and match in err.msg
    _no_temp_named(err.msg)
    assert write_errno("some codec problem") is None
