"""What every layer needs, written once: the class of a user's mistake, how a file is written so that
an interruption never leaves half of it, and how an exception becomes the one line a user reads."""
from __future__ import annotations

import os
import re
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class UsageError(ValueError):
    """A request archlab refuses: a wrong name, size or setting, a folder it may not write, a run that
    will not fit. The command prints its one line and exits 2; any other exception is archlab's own
    failure (exit 1, with a traceback in a log file)."""


def cache_dir() -> Path:
    """archlab's own files outside any report: ~/.cache/archlab (or under $XDG_CACHE_HOME)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archlab"


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file renamed over it: a reader (or a run cut short)
    sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def first_line(exc: BaseException, *, limit: int = 200, typed: bool = False) -> str:
    """An exception's message as one line (colour codes removed, cut at `limit` characters); its
    type's name when it says nothing. `typed`: "TypeName: message"."""
    text = _ANSI.sub("", str(exc)).strip()
    line = (text.splitlines() or [""])[0][:limit]
    if typed:
        return f"{type(exc).__name__}: {line}".rstrip(": ")
    return line or type(exc).__name__
