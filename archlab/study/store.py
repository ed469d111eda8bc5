"""The store of finished measurements: one place where every profile and every paired timing is kept,
keyed by what it measured, so any command reuses what any other measured.

A key is (spec, input, batch, versions of torch / archlab / fvcore / thop) and the run's Measure
(options.py): its "key" fields (device, threads, budget, training step, checkpoint, ...) and what the
result "holds" (conventions, latency, per-module times, runtimes). Layout, under the store's root
(default reports/store):

    reports/NAME/HASH/report.json   a profile (complete, or partial: marked incomplete)
    reports/NAME/HASH/key.json      its key, whether it is complete and its latency reliable
    pairs/MODEL__vs__BASE/HASH.json a paired timing with its key

HASH is a digest of the whole key, so an exact lookup is one path. A report is reused when it is
complete, was measured under the same "key" fields and holds at least what is asked now (a profile
with per-module times answers a comparison that needs none, never the other way round) and, when
latency is asked for, its latency was reliable (an unreliable one is measured again unless
`keep_noisy`). Files are written atomically (common.write_atomic): an interrupted write never leaves
half a file, and two runs that measure the same key replace one finished file with another.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .._version import __version__
from ..common import UsageError, write_atomic
from ..results import Report, ReportError, load_report
from .options import DEFAULT_ROOT, Measure, covers



def current_versions() -> dict:
    """Versions that change what a measurement means (any change invalidates stored reports)."""
    out = {}
    for pkg in ("torch", "fvcore", "thop"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["archlab"] = __version__
    return out


def plain(obj):
    """Tuples to lists, so a key compares equal to itself after a JSON round trip."""
    return json.loads(json.dumps(obj, default=str))


def request_key(spec: dict, input_shape, batch: int, measure: Measure,
                versions: dict | None = None) -> dict:
    """The identity of a measurement: two requests with equal keys measure the same thing; see the
    module doc for which parts must match and which a stored result may exceed."""
    return {"spec": plain(spec), "input": [int(v) for v in input_shape], "batch": int(batch),
            "versions": versions if versions is not None else current_versions(),
            **plain(measure.key())}


def identity(key: dict) -> dict:
    """A key less what its result holds: the part a stored result must match exactly."""
    return {k: v for k, v in key.items() if k != "holds"}


def pair_key(model_key: dict, base_key: dict, runtime: str = "eager",
             modules: bool = False) -> dict:
    """The identity of a paired timing: what each side is, the runtime both run under, and how the
    pair is timed (the harness's fixed settings; `modules`: with per-module paired deltas)."""
    from ..profile.timing.paired import PAIR_ROUNDS, PAIR_WARMUP

    harness = {"warmup": PAIR_WARMUP, "rounds": PAIR_ROUNDS, **({"modules": True} if modules else {})}
    return {"model": identity(plain(model_key)), "base": identity(plain(base_key)),
            "runtime": runtime, "harness": harness}


def digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(plain(key), sort_keys=True).encode()).hexdigest()[:16]


def safe_name(name: str) -> str:
    """A model name as a file or folder name ("dite18@context=crw" stays readable)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


class Store:
    """Finished measurements under one root folder (see the module doc)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)

    def check_writable(self) -> None:
        """Fail now, with one line, rather than lose a finished measurement to an unwritable store."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomic(self.root / f".probe.{os.getpid()}", "").unlink()
        except OSError as exc:
            raise UsageError(f"cannot write to --store {self.root}: {exc.strerror or exc}; choose "
                             "a folder archlab may write (--store DIR)") from None

    def folder(self, name: str, key: dict) -> Path:
        return self.root / "reports" / safe_name(name) / digest(key)

    def meta(self, name: str, key: dict) -> dict | None:
        """What key.json says of the entry (None when there is none, or it is another key's)."""
        meta = _read_meta(self.folder(name, key))
        return meta if meta is not None and meta["key"] == plain(key) else None

    def lookup(self, name: str, key: dict, *, keep_noisy: bool = False,
               since: float | None = None) -> Report | None:
        """A stored report that answers `key`: measured under its "key" fields, complete, holding at
        least what it asks (the exact entry first, then any other of the model's); else None."""
        exact = self.folder(name, key)
        others = sorted(p for p in exact.parent.glob("*") if p != exact) if exact.parent.is_dir() else []
        wanted, same = key["holds"], identity(plain(key))
        for folder in [exact, *others]:
            meta = _read_meta(folder)
            if meta is None or not meta.get("complete") or identity(meta["key"]) != same:
                continue
            held = meta["key"].get("holds") or {}
            if not covers(held, wanted):
                continue
            if wanted.get("latency") and not _usable(meta.get("reliable"), meta.get("saved"),
                                                     keep_noisy, since):
                continue
            try:
                return load_report(folder / "report.json")
            except ReportError:
                continue
        return None

    def counted(self, name: str, key: dict) -> Report | None:
        """A stored inference profile whose counts answer `key` although it was timed otherwise
        (another thread count, budget, number of passes): the same spec, input, batch, versions and
        count-relevant fields, counted under at least the conventions asked, without an error;
        else None. Its counts are reused and only the timing is measured (pipelines.py)."""
        folder = self.folder(name, key).parent
        if not folder.is_dir():
            return None
        wanted = plain(key)
        conventions = {"conventions": (wanted.get("holds") or {}).get("conventions")}
        for entry in sorted(folder.glob("*")):
            meta = _read_meta(entry)
            if meta is None or meta["key"].get("measure", {}).get("mode") != "eval" or \
                    _counted_identity(meta["key"]) != _counted_identity(wanted) or \
                    not covers({"conventions": (meta["key"].get("holds") or {}).get("conventions")},
                               conventions):
                continue
            report = self._load_path(entry / "report.json")
            if report is not None and report.totals.get("macs") is not None and \
                    not any(n.startswith("error:") for n in report.notes):
                return report
        return None

    def partial(self, name: str, key: dict) -> Report | None:
        """The stored report of `key` that is not complete (an interrupted profile), if any."""
        meta = self.meta(name, key)
        if meta is None or meta.get("complete"):
            return None
        return self._load(name, key)

    def _load(self, name, key) -> Report | None:
        return self._load_path(self.folder(name, key) / "report.json")

    @staticmethod
    def _load_path(path: Path) -> Report | None:
        try:
            return load_report(path)
        except ReportError:
            return None

    def save(self, report: Report, key: dict) -> Path:
        """Save the report, then its key (a key never points at a report that is not there). A report
        with an error note is kept but not complete: a rerun measures it again."""
        folder = self.folder(report.model, key)
        path = write_atomic(folder / "report.json", report.to_json())
        errors = any(n.startswith("error:") for n in report.notes)
        noisy_runtime = any(row.get("reliable") is False for row in report.runtimes or ())
        meta = {"key": plain(key), "model": report.model, "complete": report.complete and not errors,
                "reliable": False if noisy_runtime else report.timing.get("reliable"),
                "saved": time.time()}
        write_atomic(folder / "key.json", json.dumps(meta, indent=1))
        return path

    # ---------------------------------------------------------------- paired timings
    def pair_path(self, model: str, base: str, key: dict) -> Path:
        return self.root / "pairs" / f"{safe_name(model)}__vs__{safe_name(base)}" / f"{digest(key)}.json"

    def lookup_pair(self, model: str, base: str, key: dict, keep_noisy: bool = False,
                    since: float | None = None) -> dict | None:
        """The paired result timed under `key` (a reliable one, unless `keep_noisy`), else None; a
        pair that could not be timed is never a result."""
        try:
            saved = json.loads(self.pair_path(model, base, key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("key") != plain(key):
            return None
        result = saved.get("result")
        if not isinstance(result, dict) or result.get("ratio") is None:
            return None
        if not _usable(result.get("reliable"), saved.get("saved"), keep_noisy, since):
            return None
        return result

    def save_pair(self, model: str, base: str, key: dict, result: dict) -> Path:
        return write_atomic(self.pair_path(model, base, key),
                            json.dumps({"key": plain(key), "result": result,
                                        "saved": time.time()}, indent=1))


def _usable(reliable, saved: float | None, keep_noisy: bool, since: float | None) -> bool:
    """A result whose latency was flagged is reused when asked to keep noisy ones, or when the run
    being resumed measured it (saved since it started); a reliable one always."""
    if reliable is not False or keep_noisy:
        return True
    return since is not None and (saved or 0) >= since


def _counted_identity(key: dict) -> dict:
    """A key's identity less the fields that change only how a model is timed."""
    return {**identity(key), "measure": Measure.counted_identity(key.get("measure") or {})}


def _read_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / "key.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and isinstance(meta.get("key"), dict) else None
