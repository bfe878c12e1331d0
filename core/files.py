"""Files written whole or not at all: a reader (or a crash) never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(
    target: Path, data: bytes, *, times_of: Path | None = None, durable: bool = False
) -> None:
    """``data`` into ``target``, mode 0600, through a temporary file in the same folder
    renamed into place. ``times_of``: give it that file's access and modification times.
    ``durable``: on disk (the file and its folder synced) before this returns."""
    times = times_of.stat() if times_of is not None else None
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp: mode 0600 already
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        if times is not None:
            os.utime(tmp_name, (times.st_atime, times.st_mtime))
        Path(tmp_name).replace(target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
