"""Resume: a finished report is saved at once, with the key it was measured under.

The key is (spec, input, batch, device, threads, versions of torch / archlab / fvcore / thop). A
rerun with the same key reuses the report on disk instead of measuring again, provided the report
holds what is asked now (latency, the conventions), finished without an error, and its latency was
reliable (an unreliable one is measured again unless `keep_noisy`). A paired timing
(a model and its base side by side) is saved the same way, keyed by both reports' keys and the
pairing settings.
"""
from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .result import Report, ReportError, load_report

KEY_FILE = "key.json"
REPORT_FILE = "report.json"


def current_versions() -> dict:
    """Versions that change what a measurement means (any change invalidates cached reports)."""
    out = {}
    for pkg in ("torch", "fvcore", "thop"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["archlab"] = getattr(sys.modules.get("archlab"), "__version__", None)
    return out


def request_key(spec: dict, input_shape, batch: int, device: str, threads: int | None,
                versions: dict | None = None, options: dict | None = None) -> dict:
    """The identity of a measurement: two requests with equal keys measure the same thing.
    `options`: settings that change what is measured (e.g. timing a CUDA graph), when set."""
    key = {"spec": _plain(spec), "input": [int(v) for v in input_shape], "batch": int(batch),
           "device": str(device), "threads": threads,
           "versions": versions if versions is not None else current_versions()}
    if options:
        key["options"] = _plain(options)
    return key


def _plain(obj):
    """Tuples to lists, so a key compares equal to itself after a JSON round trip."""
    return json.loads(json.dumps(obj, default=str))


def lookup(folder: str | Path, key: dict, *, latency: bool = True, conventions=None,
           keep_noisy: bool = False) -> Report | None:
    """The report saved in `folder` if it was measured under `key`, is complete, and holds latency
    (when asked for; a reliable one unless `keep_noisy`) and every convention asked for; otherwise
    None."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / KEY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("key") != _plain(key) or not meta.get("complete"):
        return None
    if latency and not meta.get("latency"):
        return None
    if latency and meta.get("reliable") is False and not keep_noisy:
        return None
    if conventions and not set(conventions) <= set(meta.get("conventions") or []):
        return None
    try:
        return load_report(folder / REPORT_FILE)
    except ReportError:
        return None


def store(folder: str | Path, report: Report, key: dict, *, latency: bool, conventions=None,
          complete: bool = True) -> Path:
    """Save the report, then its key (a key never points at a report that is not there)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = report.save(folder / REPORT_FILE)
    meta = {"key": _plain(key), "latency": bool(latency), "complete": bool(complete),
            "reliable": report.timing.get("reliable"),
            "conventions": sorted(report.env.get("conventions") or conventions or
                                  [c for c in report.totals if c in CONVENTION_NAMES])}
    tmp = folder / (KEY_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(folder / KEY_FILE)
    return path


def forget(folder: str | Path) -> None:
    """Drop the key so the report in `folder` is measured again."""
    (Path(folder) / KEY_FILE).unlink(missing_ok=True)


def pair_key(model_key: dict, base_key: dict, settings: dict) -> dict:
    """The identity of a paired timing: what each side measures, and how the pair is timed."""
    return {"model": _plain(model_key), "base": _plain(base_key), "settings": _plain(settings)}


def lookup_pair(path: str | Path, key: dict, keep_noisy: bool = False) -> dict | None:
    """The paired result saved at `path` if it was timed under `key` (and was reliable, unless
    `keep_noisy`); otherwise None."""
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != _plain(key):
        return None
    result = saved.get("result")
    if not isinstance(result, dict) or (result.get("reliable") is False and not keep_noisy):
        return None
    return result


def store_pair(path: str | Path, key: dict, result: dict) -> Path:
    """Save one paired result with its key, atomically (an interrupted save leaves no half file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"key": _plain(key), "result": result}, indent=1))
    tmp.replace(path)
    return path


CONVENTION_NAMES = ("archlab", "fvcore", "thop", "paper-hook", "paper-conv")
