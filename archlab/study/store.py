"""The store of finished measurements: one place where every profile and every paired timing is kept,
keyed by what it measured, so any command reuses what any other measured.

A key is (spec, input, batch, device, threads, versions of torch / archlab / fvcore / thop, and
options that change what is measured). Layout, under the store's root (default reports/store):

    reports/NAME/HASH/report.json   a profile (complete, or partial: marked incomplete)
    reports/NAME/HASH/key.json      its key, what it holds (latency, conventions), whether it is
                                    complete and its latency reliable
    pairs/MODEL__vs__BASE/HASH.json a paired timing with its key

HASH is a digest of the key, so a lookup is one path. A report is reused when it is complete, holds
what is asked now (latency, the conventions) and, when latency is asked for, its latency was
reliable (an unreliable one is measured again unless `keep_noisy`). Files are written atomically
(temporary file, then rename): an interrupted write never leaves half a file, and two runs that
measure the same key replace one finished file with another.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..common import write_atomic
from ..results import Report, ReportError, load_report

DEFAULT_ROOT = Path("reports") / "store"


def current_versions() -> dict:
    """Versions that change what a measurement means (any change invalidates stored reports)."""
    out = {}
    for pkg in ("torch", "fvcore", "thop"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["archlab"] = getattr(sys.modules.get("archlab"), "__version__", None)
    return out


def plain(obj):
    """Tuples to lists, so a key compares equal to itself after a JSON round trip."""
    return json.loads(json.dumps(obj, default=str))


def request_key(spec: dict, input_shape, batch: int, device: str, threads: int | None,
                versions: dict | None = None, options: dict | None = None) -> dict:
    """The identity of a measurement: two requests with equal keys measure the same thing.
    `options`: settings that change what is measured (e.g. timing a CUDA graph), when set."""
    key = {"spec": plain(spec), "input": [int(v) for v in input_shape], "batch": int(batch),
           "device": str(device), "threads": threads,
           "versions": versions if versions is not None else current_versions()}
    if options:
        key["options"] = plain(options)
    return key


def pair_key(model_key: dict, base_key: dict, settings: dict) -> dict:
    """The identity of a paired timing: what each side measures, and how the pair is timed."""
    return {"model": plain(model_key), "base": plain(base_key), "settings": plain(settings)}


def digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(plain(key), sort_keys=True).encode()).hexdigest()[:16]


def safe_name(name: str) -> str:
    """A model name as a file or folder name ("dite18@context=crw" stays readable)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


class Store:
    """Finished measurements under one root folder (see the module doc)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)

    def folder(self, name: str, key: dict) -> Path:
        return self.root / "reports" / safe_name(name) / digest(key)

    def meta(self, name: str, key: dict) -> dict | None:
        """What key.json says of the entry (None when there is none, or it is another key's)."""
        try:
            meta = json.loads((self.folder(name, key) / "key.json").read_text())
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) and meta.get("key") == plain(key) else None

    def lookup(self, name: str, key: dict, *, latency: bool = True, conventions=(),
               keep_noisy: bool = False) -> Report | None:
        """The stored report measured under `key`, if it is complete and holds what is asked;
        else None."""
        meta = self.meta(name, key)
        if meta is None or not meta.get("complete"):
            return None
        if latency and (not meta.get("latency") or (meta.get("reliable") is False and not keep_noisy)):
            return None
        if not set(conventions or ()) <= set(meta.get("conventions") or ()):
            return None
        return self._load(name, key)

    def partial(self, name: str, key: dict) -> Report | None:
        """The stored report of `key` that is not complete (an interrupted profile), if any."""
        meta = self.meta(name, key)
        if meta is None or meta.get("complete"):
            return None
        return self._load(name, key)

    def _load(self, name, key) -> Report | None:
        try:
            return load_report(self.folder(name, key) / "report.json")
        except ReportError:
            return None

    def save(self, report: Report, key: dict, *, latency: bool) -> Path:
        """Save the report, then its key (a key never points at a report that is not there). A report
        with an error note is kept but not complete: a rerun measures it again."""
        folder = self.folder(report.model, key)
        path = write_atomic(folder / "report.json", report.to_json())
        errors = any(n.startswith("error:") for n in report.notes)
        meta = {"key": plain(key), "model": report.model, "latency": bool(latency),
                "complete": report.complete and not errors,
                "reliable": report.timing.get("reliable"),
                "conventions": sorted(report.env.get("conventions") or [])}
        write_atomic(folder / "key.json", json.dumps(meta, indent=1))
        return path

    # ---------------------------------------------------------------- paired timings
    def pair_path(self, model: str, base: str, key: dict) -> Path:
        return self.root / "pairs" / f"{safe_name(model)}__vs__{safe_name(base)}" / f"{digest(key)}.json"

    def lookup_pair(self, model: str, base: str, key: dict, keep_noisy: bool = False) -> dict | None:
        """The paired result timed under `key` (a reliable one, unless `keep_noisy`), else None."""
        try:
            saved = json.loads(self.pair_path(model, base, key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("key") != plain(key):
            return None
        result = saved.get("result")
        if not isinstance(result, dict) or (result.get("reliable") is False and not keep_noisy):
            return None
        return result

    def save_pair(self, model: str, base: str, key: dict, result: dict) -> Path:
        return write_atomic(self.pair_path(model, base, key),
                            json.dumps({"key": plain(key), "result": result}, indent=1))
