"""Result objects of a profile: one ModuleStat per module, one Report per (model, input, device).

Everything a reader needs to trust a number travels with it: the report is self-describing on disk
(model and spec, input, environment, counting convention, method of measurement, what was not
counted), and pandas frames and plots are made from these objects, never the other way round.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

SCHEMA = "archlab.report/1"


@dataclass
class ModuleStat:
    """Inclusive cost of one module (its own ops and its children's), for the whole batch.

    `name` is the `named_modules()` name ("" = the whole model). `macs` and `flops` follow the
    archlab convention (1 multiply-add = 1 MAC = 2 FLOPs); `counts` holds the raw count of every
    convention computed, keyed by its name. `self_ms` is the time of the module's own operators,
    `latency_ms` that plus its submodules' (so a container's self_ms is 0, and the model's
    latency_ms is the operator time of the whole forward, `timing["op_ms"]`). None means "not
    measured", never zero.
    """

    name: str
    type: str
    depth: int
    params: int
    macs: int | None = None
    flops: int | None = None
    act_bytes: int | None = None
    latency_ms: float | None = None
    peak_bytes: int | None = None
    counts: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    self_ms: float | None = None


@dataclass
class Report:
    """A profile of one model at one input, batch and device.

    model:    the name it was profiled under (registry name or the module's class name)
    spec:     the model's spec as a dict ({} for a plain nn.Module)
    input:    {"shape": [C, H, W], "batch": B, "dtype": ..., "memory_format": ...}
    env:      device and its name, threads, torch / archlab / fvcore versions, cudnn and TF32 state,
              date made, ...
    rows:     one ModuleStat per module, in `named_modules()` order, the whole model first
    totals:   params, macs, flops, act_bytes, latency and memory figures, and one entry per
              convention computed ('archlab', 'fvcore', 'thop', 'paper-hook', 'paper-conv') with
              that convention's raw whole-model count
    coverage: the op ledger: counted / free / uncounted ops with call counts and traffic shares
    timing:   method and spread of the whole-model latency (median, p10, p90, IQR, n), whether it
              can be trusted (`reliable`, `warnings`, load, CPU share, threads, cores), op_ms (the
              sum of operator time) and overhead_ms (end-to-end median minus op_ms)
    notes:    human-readable remarks, errors included ("error: ..."), kept even when a step failed
    """

    model: str
    spec: dict
    input: dict
    env: dict
    rows: list[ModuleStat]
    totals: dict
    coverage: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    def row(self, name: str = "") -> ModuleStat:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no module named {name!r} in the report of {self.model}")

    def to_frame(self):
        """One row per module: module, type, depth, params, macs, flops, act_bytes, latency_ms,
        peak_bytes, then one column per convention (`macs[fvcore]`, ...)."""
        import pandas as pd

        records = []
        for r in self.rows:
            rec = {"module": r.name, "type": r.type, "depth": r.depth, "params": r.params,
                   "macs": r.macs, "flops": r.flops, "act_bytes": r.act_bytes,
                   "latency_ms": r.latency_ms, "peak_bytes": r.peak_bytes, "self_ms": r.self_ms}
            rec.update({f"count[{k}]": v for k, v in r.counts.items()})
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["rows"] = [ModuleStat(**r) for r in data.get("rows", [])]
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> "Report":
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)  # atomic: an interrupted save never leaves half a report
        return path


class ReportError(ValueError):
    """A report file that cannot be read as an archlab report."""


def read_json(path: Path, schema: str, what: str, hint: str) -> dict:
    """The JSON object in `path`, checked to carry `schema`; a one-line ReportError otherwise.
    `what` names the kind of file ("report"), `hint` the command that makes one."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"no {what} at {path}: run `{hint}` first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read {path} as a {what} ({exc}); give one written by `{hint}`") from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        raise ReportError(f"{path} is not an archlab {what} (schema {schema!r} expected)")
    return data


def load_report(path: str | Path) -> Report:
    """Read a report.json (or a folder holding one); a clear ReportError if it is not one."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    data = read_json(path, SCHEMA, "report", "archlab profile NAME")
    try:
        return Report.from_dict(data)
    except TypeError as exc:
        raise ReportError(f"{path} is a damaged archlab report ({exc}); profile again") from None
