"""Files a service makes once and then only reads (development keys in ``data_dir``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_once(path: Path, content: bytes) -> None:
    """Write ``path`` unless it exists, all at once (mode 0600). A process starting alongside
    never reads a half-written file: the content is complete before the name appears, and the
    loser of a race adopts the winner's file (an O_EXCL create would raise in the loser, and
    expose an empty file until the winner had written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: its file it is
            os.link(draft, path)
    finally:
        os.unlink(draft)
