"""Atomic file writes: write to a temporary name in the same directory, fsync, rename.

A reader (or a crash) can then only ever see the old file or the complete new
one, never a half-written file that looks finished.
"""
import contextlib
import errno
import json
import os
import shutil
import sys
import tempfile


def _tmp_path(path):
    """A temporary name beside ``path``; for a name near the 255-byte limit, a short one (the
    dot-and-suffix form of a valid 254-byte name is itself too long to create)."""
    d, base = os.path.split(os.path.abspath(path))
    name = f".{base}.tmp-{os.getpid()}"
    if len(name.encode()) > 255:
        import hashlib
        name = f".{hashlib.sha1(base.encode()).hexdigest()[:16]}.tmp-{os.getpid()}"
    return os.path.join(d, name)


def atomic_write(path, write):
    """``write(f)`` fills the file through an open binary file ``f``: large contents are written
    from where they are (``np.save(f, array)``), without a copy as bytes first."""
    tmp = _tmp_path(path)
    with partial_files_removed([tmp], path):
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def atomic_write_bytes(path, data):
    atomic_write(path, lambda f: f.write(data))


@contextlib.contextmanager
def partial_files_removed(tmp_paths, final_path):
    """Temporary files that a failed or interrupted block leaves are removed (a full disk then keeps
    no half file), and a failed write names the file it was for, not its temporary name."""
    try:
        with mxnet_write_errors(final_path):
            yield
    except BaseException as err:
        for tmp in tmp_paths:
            if os.path.exists(tmp):
                os.remove(tmp)
        if isinstance(err, OSError) and str(err.filename or "") in ["", *tmp_paths]:
            raise OSError(err.errno, err.strerror, final_path) from None
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


@contextlib.contextmanager
def temporary_dir(parent, prefix):
    """A hidden folder in ``parent`` for files that :func:`commit_dir` (or renames) move into place
    when complete. It is removed whatever happens, so a full disk or an interrupt leaves no partial
    copy behind, and MXNet's failed writes come out as the OSError they are."""
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        with mxnet_write_errors(parent):
            yield tmp
    except OSError as err:
        if not str(err.filename or "").startswith(tmp):
            raise
        raise OSError(err.errno, err.strerror, parent) from None  # the temporary name is gone: say where
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def mxnet_write_errors(path):
    """MXNet reports a short write (``FileStream.Write incomplete``) as an MXNetError from C++.
    Without MXNet imported no MXNet write can have failed, and importing it would cost a second."""
    mx = sys.modules.get("mxnet")
    if mx is None:
        yield
        return
    try:
        yield
    except mx.base.MXNetError as err:
        if "Write incomplete" not in str(err):
            raise
        full = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < (1 << 20)
        raise OSError(errno.ENOSPC if full else errno.EIO, "MXNet could not finish a write", path) from None


def read_json_object(path, missing, damaged):
    """A JSON object that mxdl wrote, or a UserError: ``missing`` when there is no file, ``damaged``
    (with the reason) when it is not a JSON object."""
    from .errors import UserError
    if not os.path.isfile(path):
        raise UserError(missing)
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (ValueError, UnicodeDecodeError):
        raise UserError(damaged.format(why="not JSON")) from None
    if not isinstance(value, dict):
        raise UserError(damaged.format(why="not a JSON object"))
    return value


def make_folder(path, what="folder"):
    """``os.makedirs`` with its failures (a path under a regular file, no permission, a name too
    long) as one line naming the folder."""
    from .errors import UserError
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{what} {path} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the {what} {path}: {err.strerror}") from None
