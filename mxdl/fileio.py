"""Atomic file writes: write to a temporary name in the same directory, fsync, rename.

A reader (or a crash) can then only ever see the old file or the complete new
one, never a half-written file that looks finished.
"""
import json
import os
import shutil
import tempfile


def _tmp_path(path):
    d, base = os.path.split(os.path.abspath(path))
    return os.path.join(d, f".{base}.tmp-{os.getpid()}")


def atomic_write_bytes(path, data):
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk or an interrupt: leave neither a half file nor its temporary
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_dir(tmp_dir, final_dir):
    """Move a finished temporary directory into place (replacing an old one)."""
    for name in os.listdir(tmp_dir):
        with open(os.path.join(tmp_dir, name), "rb") as f:
            os.fsync(f.fileno())
    if os.path.exists(final_dir):
        trash = tempfile.mkdtemp(prefix=".trash-", dir=os.path.dirname(final_dir))
        os.replace(final_dir, os.path.join(trash, "old"))
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)
    fsync_dir(os.path.dirname(os.path.abspath(final_dir)))
