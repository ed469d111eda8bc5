"""An output folder held for one run: one writer at a time, never another request's files replaced
unseen, an unfinished run of the same request resumed, and nothing left behind by a run refused
before it wrote anything.

The folder's mark (.archlab.json) says what it was asked to hold and whether that run finished: a
comparison cut short by Ctrl-C holds fewer models than it was asked for, and the same command must
resume it, not be refused as "another comparison".
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ..common import UsageError, write_atomic

LOCK, MARK = ".archlab.lock", ".archlab.json"


class OutputBusy(UsageError):
    """Another archlab run is writing the same output folder."""


class OutputFolder:
    """Context manager: the folder locked (filelock) for the run; a folder that holds another model's
    report or another comparison is refused unless `replace` (which empties it first). `kind` is
    "report" or "comparison", `names` the models it will hold. After entering, `resumed_since` is
    the start time of the unfinished run of the same request it resumes (None for a new run);
    `finish()` marks the run finished."""

    def __init__(self, path: str | Path, *, kind: str, names, replace: bool = False):
        self.path, self.kind, self.names, self.replace = Path(path), kind, list(names), replace
        self.resumed_since: float | None = None
        self._lock, self._created = None, False

    def __enter__(self) -> "OutputFolder":
        from filelock import FileLock, Timeout

        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out {self.path} exists and is not a folder")
        self._created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create --out {self.path}: {exc.strerror or exc}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write to --out {self.path}: permission denied")
        self._lock = FileLock(self.path / LOCK)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise OutputBusy(f"{self.path} is being written by another archlab run; wait for it to "
                             "finish or choose another --out") from None
        try:
            self._take()
        except BaseException:
            self._release()
            raise
        return self

    def _take(self) -> None:
        mark, there = _read_mark(self.path), _holds(self.path)
        wanted = (self.kind, set(self.names))
        if there is not None and there != wanted:
            if not self.replace:
                raise UsageError(f"{self.path} holds {_words(*there)}; choose another --out, or "
                                 f"pass --replace to replace it with {_words(self.kind, self.names)}")
            _empty(self.path)  # replace means replace: nothing of the old request stays
        elif there == wanted and mark is not None and not mark.get("finished"):
            self.resumed_since = mark.get("started")
        write_atomic(self.path / MARK, json.dumps(
            {"kind": self.kind, "names": sorted(self.names), "finished": False,
             "started": self.resumed_since or time.time()}))

    def finish(self) -> None:
        mark = _read_mark(self.path) or {}
        write_atomic(self.path / MARK, json.dumps({**mark, "finished": True}))

    def __exit__(self, *exc) -> bool:
        self._release()
        return False

    def _release(self) -> None:
        self._lock.release()
        left = {p.name for p in self.path.iterdir()} - {LOCK, MARK}
        if self._created and not left:  # refused or failed before writing anything: leave nothing
            shutil.rmtree(self.path, ignore_errors=True)


def _read_mark(folder: Path) -> dict | None:
    try:
        mark = json.loads((folder / MARK).read_text())
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) else None


def _holds(folder: Path) -> tuple[str, set] | None:
    """What an output folder holds: ("report", {model}) or ("comparison", {models}) — the request
    its mark names, else what its files say — or None."""
    mark = _read_mark(folder)
    if mark is not None and mark.get("kind") in ("report", "comparison"):
        return mark["kind"], set(mark.get("names") or ())
    for kind, fname, field_ in (("report", "report.json", "model"),
                                ("comparison", "comparison.json", "models")):
        try:
            value = json.loads((folder / fname).read_text()).get(field_)
        except (OSError, ValueError, AttributeError):
            continue
        return kind, set(value) if isinstance(value, list) else {value}
    return None


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.name == LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _words(kind: str, names) -> str:
    names = sorted(map(str, names))
    return f"the report of {names[0]}" if kind == "report" else \
        "a comparison of " + ", ".join(names)
