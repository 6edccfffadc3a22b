"""Writing ``--out`` files without ever destroying what is there.

The policy, for a path given by the user:

* a regular file (or a path that does not exist yet) is replaced
  atomically: the text goes to a temporary file in the same directory,
  which is renamed over the target only when complete, so a reader never
  sees half a file and a kill leaves the old one;
* a replaced file keeps its permission bits (and, for root, its owner);
  a new file gets the mode the umask gives, as ``open`` would;
* a symlink is followed: its target is written as above (a dangling link
  creates its target), the link itself stays;
* a character device, FIFO or socket (``/dev/null``, ``/dev/stdout``, a
  named pipe) is written through, never replaced;
* a directory is refused.

The temporary file is removed on every way out (an error, Ctrl-C, SIGTERM
once the command line turns it into an exception).
"""
from __future__ import annotations

import contextlib
import os
import stat


class OutputError(Exception):
    """An output path that cannot be written: one sentence for the user."""


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot use {path}: {exc.strerror}") from None


def is_special(path: str) -> bool:
    """True for an existing device, FIFO or socket (written through)."""
    st = _stat(path)
    return st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def check_writable(path: str) -> None:
    """Raise OutputError now, before any work, if ``path`` cannot be written."""
    st = _stat(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path} is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {path}: permission denied")
        return
    directory = os.path.dirname(os.path.realpath(path)) or "."
    if not os.path.isdir(directory):
        raise OutputError(f"cannot write {path}: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the directory {directory} is not writable")


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` by the policy above."""
    st = _stat(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path} is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(path, "wb") as fh:      # a device or pipe: write through
                fh.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        return
    target = os.path.realpath(path)
    import tempfile   # here, not at the top: 2 ms of every command's start-up

    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".newtonopt-",
                                   suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if st is None:
            os.chmod(tmp, _umask_mode())
        else:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        raise


def write_text(path: str, text: str) -> None:
    """``write_bytes`` of UTF-8 text ending in a newline."""
    write_bytes(path, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
