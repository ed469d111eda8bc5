"""merge: the stores of several machines in one comparison, with the device as a column.

Every finished report in every store is read (reports/*/*/key.json and report.json) and placed by
what it measured — spec, input, batch — and where: its environment fingerprint (device and its name,
torch and CUDA versions, threads), computed from the report's own env. The same spec measured on two
devices is two rows, never averaged; measured twice on one device, the newer report is kept (one
with latency before one without). Each row is compared with its base measured on the same device at
the same input and batch, and a paired latency is attached only when both its sides come from the
store it was timed in: latency is only ever compared within one device.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..common import UsageError, first_line
from ..results import Report, ReportError, load_report
from .comparing import _write
from .grid import label as row_label
from .pipelines import Outcome
from .folder import OutputFolder
from .run import log_line
from .store import digest, identity

FINGERPRINT = ("device", "device_name", "torch", "cuda", "threads")


@dataclass
class Entry:
    """One finished report in one store, with the key it was stored under."""

    report: Report
    key: dict
    store: Path
    latency: bool

    @property
    def fingerprint(self) -> dict:
        return fingerprint(self.report.env)


@dataclass
class MergeOutcome(Outcome):
    """An Outcome with the merged table (device columns, front) and the devices found."""

    table: object = None
    devices: dict = field(default_factory=dict)  # device label -> its fingerprint
    dropped: int = 0  # older repeats of a measurement on one device, left out


def fingerprint(env: dict) -> dict:
    """Where a report was measured: device type and name (on the CPU, the CPU's model), torch, CUDA,
    threads."""
    fp = {k: env.get(k) for k in FINGERPRINT}
    fp["device"] = str(fp["device"] or "?").split(":")[0]
    return fp


def read_store(root: str | Path, log=log_line) -> list[Entry]:
    """Every complete report of one store (an unreadable one is named and left out)."""
    root = Path(root)
    if not (root / "reports").is_dir():
        raise UsageError(f"{root} is not a store of finished measurements (it has no reports/ "
                         "folder); give each machine's --store folder (default reports/store)")
    out = []
    for meta_path in sorted((root / "reports").glob("*/*/key.json")):
        try:
            meta = json.loads(meta_path.read_text())
            report = load_report(meta_path.parent / "report.json")
        except (OSError, ValueError, ReportError) as exc:
            log(f"left out {meta_path.parent}: {first_line(exc)}")
            continue
        if isinstance(meta, dict) and meta.get("complete") and isinstance(meta.get("key"), dict):
            held = meta["key"].get("holds") or {}
            out.append(Entry(report, meta["key"], root, bool(held.get("latency"))))
    return out


def distinct_stores(stores) -> list[Path]:
    """The stores in the order given, each folder once: the same store named twice (or through a
    link) holds the same reports, and reading it twice would count each as an older repeat."""
    seen, out = set(), []
    for root in map(Path, stores):
        where = root.resolve()
        if where not in seen:
            seen.add(where)
            out.append(root)
    return out


def _check_out(out, stores) -> None:
    """Refuse an output folder that is a store or inside one: the merge would write its tables and
    models/ among the store's measurements (and --replace would empty it)."""
    target = Path(out).resolve()
    for root in stores:
        if target == root.resolve() or root.resolve() in target.parents:
            raise UsageError(f"--out {out} is the store {root} or inside it; write the merge to a "
                             "folder outside every store (e.g. --out reports/merged)")


def device_labels(fingerprints: list[dict]) -> dict[str, str]:
    """fingerprint (as JSON) -> a short device name: the device's name, with the threads, torch or
    CUDA version added only where two fingerprints share a name."""
    names = {}
    for fp in fingerprints:
        names.setdefault(fp["device_name"] or fp["device"], []).append(fp)
    out = {}
    for name, fps in names.items():
        differ = [k for k in ("threads", "torch", "cuda") if len({str(f[k]) for f in fps}) > 1]
        for fp in fps:
            shown = {"threads": f"{fp['threads']} threads", "torch": f"torch {fp['torch']}",
                     "cuda": f"CUDA {fp['cuda']}"}
            extra = ", ".join(shown[k] for k in differ)
            out[json.dumps(fp, sort_keys=True)] = f"{name} ({extra})" if extra else name
    return out


def _pick(entries: list[Entry]) -> tuple[list[Entry], int]:
    """One entry per (spec, input, batch, measure options, fingerprint): with latency first, then newest."""
    best: dict[str, Entry] = {}
    for e in entries:
        r = e.report
        what = json.dumps([digest(e.key["spec"]), r.input.get("shape"), r.input.get("batch"),
                           e.key.get("measure"), e.fingerprint], sort_keys=True, default=str)
        rank = (e.latency, str(r.env.get("date") or ""))
        if what not in best or rank > (best[what].latency, str(best[what].report.env.get("date") or "")):
            best[what] = e
    return list(best.values()), len(entries) - len(best)


def merge(stores, out: str | Path, *, replace: bool = False, log=log_line) -> MergeOutcome:
    """Merge the stores in `stores` (each a --store folder) into one comparison in `out`: table.md,
    table.csv (with device columns and the Pareto front per device), pareto.png, merge.md."""
    from ..report.compare import Comparison

    if not stores:
        raise UsageError("merge needs at least one store folder")
    stores = distinct_stores(stores)
    _check_out(out, stores)
    entries = [e for root in stores for e in read_store(root, log)]
    if not entries:
        raise UsageError(f"no finished report in {', '.join(map(str, stores))}")
    chosen, dropped = _pick(entries)
    fps = {json.dumps(e.fingerprint, sort_keys=True): e.fingerprint for e in chosen}
    devices = device_labels(list(fps.values()))
    shapes = {tuple(e.report.input.get("shape") or ()) for e in chosen}
    batches = {e.report.input.get("batch") for e in chosen}
    labels: dict[int, str] = {}
    for i, e in enumerate(chosen):
        dev = devices[json.dumps(e.fingerprint, sort_keys=True)]
        text = row_label(e.report.model, e.report.input.get("shape"), e.report.input.get("batch"),
                         inputs=len(shapes) > 1, batches=len(batches) > 1,
                         device=dev if len(devices) > 1 else None)
        while text in labels.values():  # the same model under other options (a checkpoint, ...)
            text += "'"
        labels[i] = text
    where = {(e.report.model, json.dumps(e.report.input.get("shape")), e.report.input.get("batch"),
              json.dumps(e.fingerprint, sort_keys=True)): labels[i] for i, e in enumerate(chosen)}
    bases = {}
    for i, e in enumerate(chosen):
        b = (e.report.spec or {}).get("base")
        bases[labels[i]] = where.get((b, json.dumps(e.report.input.get("shape")),
                                      e.report.input.get("batch"),
                                      json.dumps(e.fingerprint, sort_keys=True)))
    paired = _pairs(chosen, labels, bases)
    reports = [_relabel(e.report, labels[i]) for i, e in enumerate(chosen)]
    comp = Comparison(reports, base=bases, paired=paired)
    folder = Path(out)
    outcome = MergeOutcome(folder, result=comp, devices={v: fps[k] for k, v in devices.items()},
                           dropped=dropped)
    outcome.tally.reused = list(labels.values())
    with OutputFolder(folder, kind="comparison", names=list(labels.values()), replace=replace):
        outcome.paths = _write(comp, folder)
        outcome.table, paths = _write_merge(comp, chosen, labels, devices, folder, stores, outcome)
        outcome.paths.update(paths)
    return outcome


def _relabel(report: Report, text: str) -> Report:
    import dataclasses

    return dataclasses.replace(report, model=text)


def _pairs(chosen: list[Entry], labels: dict[int, str], bases: dict[str, str]) -> dict:
    """Paired timings whose model and base were both taken from the store the pair was timed in."""
    index = {(str(e.store), digest(identity(e.key))): labels[i] for i, e in enumerate(chosen)}
    out = {}
    for root in {e.store for e in chosen}:
        for path in sorted((root / "pairs").glob("*/*.json")):
            try:
                saved = json.loads(path.read_text())
                model = index.get((str(root), digest(saved["key"]["model"])))
                base = index.get((str(root), digest(saved["key"]["base"])))
                result = saved["result"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if model is None or base is None or bases.get(model) != base or not isinstance(result, dict):
                continue
            if model not in out or (out[model].get("reliable") is False and result.get("reliable")):
                out[model] = {**result, "base": base}
    return out


def _write_merge(comp, chosen, labels, devices, folder: Path, stores, outcome):
    from ..report.plots import save
    from ..report.plots.sweep import plot_pareto
    from ..report.sweep_table import sweep_markdown, sweep_frame

    rows = {}
    for i, e in enumerate(chosen):
        fp = e.fingerprint
        rows[labels[i]] = {"point": e.report.model,
                           "input": "x".join(map(str, (e.report.input.get("shape") or [])[1:])),
                           "batch": e.report.input.get("batch"),
                           "device": devices[json.dumps(fp, sort_keys=True)],
                           **{k: fp[k] for k in FINGERPRINT if k != "device"}, "store": str(e.store)}
    front_by = ["device", "input", "batch"]
    df = sweep_frame(comp, rows, front_by=front_by)
    df.to_csv(folder / "table.csv", index=False)
    paths = {"pareto.png": save(plot_pareto(df, comp, what=f"{len(chosen)} reports from "
                                            f"{len(stores)} store(s)", color_by="device",
                                            front_by=front_by), folder / "pareto.png")}
    about = [f"Stores: {', '.join(map(str, stores))}; {len(chosen)} reports"
             + (f" ({outcome.dropped} older repeat(s) on one device left out)" if outcome.dropped
                else "") + ".", "", "Devices (each row is compared only with its base measured on "
             "the same device; nothing is averaged across devices):", ""]
    about += [f"- **{name}**: " + ", ".join(f"{k} {fp[k]}" for k in FINGERPRINT if fp[k] is not None)
              for name, fp in outcome.devices.items()]
    text = sweep_markdown(df, comp, title="Merged measurements", about=about, invalid={},
                          plots=list(paths), front_by=front_by)
    (folder / "merge.md").write_text(text)
    paths["merge.md"] = folder / "merge.md"
    return df, paths
