"""Result objects of a profile: one ModuleStat per module, one Report per (model, input, device).

Everything a reader needs to trust a number travels with it: the report is self-describing on disk
(model and spec, input, environment, counting convention, method of measurement, what was not
counted), and pandas frames and plots are made from these objects, never the other way round.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict

from .common import UsageError, write_atomic

SCHEMA = "archlab.report/2"


class InputInfo(TypedDict, total=False):
    shape: list[int] | None  # (C, H, W) when given as input_size; None for example inputs
    batch: int
    arguments: list[dict]  # every tensor argument: path ("args[0]"), shape, dtype
    mode: str  # "eval" (inference) or "train" (a training step)
    dtype: str
    memory_format: str


@dataclass
class ModuleStat:
    """Inclusive cost of one module (its own ops and its children's), for the whole batch.

    `name` is the `named_modules()` name ("" = the whole model), `parent` its parent's (None for
    the whole model). `macs` and `flops` follow the archlab convention (1 multiply-add = 1 MAC = 2
    FLOPs); `counts` holds the raw count of every other convention computed, keyed by its name
    (`count(name)` reads any convention, archlab's included). `self_ms` is the time of the module's own operators,
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
    counts: dict[str, int | float] = field(default_factory=dict)
    error: str | None = None
    self_ms: float | None = None
    parent: str | None = None
    # a training profile (input["mode"] == "train") also has, per module: MACs of the backward
    # operators its forward's autograd nodes ran, bytes autograd saved for them, and their time
    macs_backward: int | None = None
    saved_bytes: int | None = None
    self_ms_backward: float | None = None
    latency_ms_backward: float | None = None
    # what a torchinfo user reads: parameters that train and their bytes by dtype, and the
    # shapes of the first call's inputs and outputs (nested as the module takes and returns them)
    trainable_params: int | None = None
    param_bytes: dict[str, int] = field(default_factory=dict)
    input_shape: Any = None
    output_shape: Any = None
    calls: int | None = None
    # the spread of the per-module times over the operator-timed passes (p10 and p90 of self_ms,
    # and of the per-pass inclusive time), and the minor page faults its own operators took per
    # forward (CPU: fresh pages from the allocator, why identical layers at different positions
    # differ; archlab.profile.timing.faults)
    self_ms_p10: float | None = None
    self_ms_p90: float | None = None
    latency_ms_p10: float | None = None
    latency_ms_p90: float | None = None
    page_faults: float | None = None
    # the roofline (archlab.profile.roofline; README "Roofline"), inclusive like macs: bytes the
    # module's operators moved, MACs per byte, operators run, the time the machine's measured
    # ceilings allow (env["machine"]: max(MACs / peak, bytes / bandwidth) + ops x floor), that
    # over the measured time (latency_ms; a leaf's self time) clipped to 1, and the largest term
    bytes_moved: int | None = None
    intensity: float | None = None
    ops: int | None = None
    attainable_ms: float | None = None
    efficiency: float | None = None
    bound: str | None = None  # "compute", "memory" or "overhead"
    # the same for the backward operators of a training profile (timed: latency_ms_backward)
    bytes_moved_backward: int | None = None
    ops_backward: int | None = None
    attainable_ms_backward: float | None = None
    efficiency_backward: float | None = None
    bound_backward: str | None = None

    def count(self, convention: str):
        """This module's count under `convention` (archlab's is `macs`); None if not computed."""
        return self.macs if convention == "archlab" else self.counts.get(convention)


_ROW_FIELDS = tuple(f.name for f in fields(ModuleStat))


@dataclass
class Report:
    """A profile of one model at one input, batch and device.

    model:    the name it was profiled under (registry name or the module's class name)
    spec:     the model's spec as a dict ({} for a plain nn.Module)
    input:    {"shape": [C, H, W], "batch": B, "dtype": ..., "memory_format": ...}
    env:      device and its name, threads, torch / archlab / fvcore versions, cudnn and TF32 state,
              date made, ...
    rows:     one ModuleStat per module, in `named_modules()` order, the whole model first
    totals:   params, macs, flops (archlab's), act_bytes, latency and memory figures, and one
              entry per other convention computed ('fvcore', 'paper-hook', ...) with its raw
              whole-model count (`count(name)` reads any, archlab's included)
    conventions: the table entry of every convention counted (rule, unit, published unit and
              divisor, how computed), so the report explains its own numbers
    runtimes: one row per deploy runtime measured (archlab.profile.deploy.runtimes.ROW_KEYS: name,
              latency_ms, ratio_to_eager with ratio_p10 / ratio_p90, max_rel_diff, prepare_s,
              valid, note, ...); empty when only eager PyTorch was profiled
    coverage: the op ledger: counted / free / uncounted ops with call counts and traffic shares;
              a training step's backward has its own, of the same shape, under "backward"
    timing:   method and spread of the whole-model latency (median, p10, p90, IQR, n), whether it
              can be trusted (`reliable`, `warnings`, load, CPU share, threads, cores), op_ms (the
              sum of operator time) and overhead_ms (end-to-end median minus op_ms, never negative:
              archlab.profile.timing.accounting), with instrumentation_ms and op_scale
    notes:    human-readable remarks, errors included ("error: ..."), kept even when a step failed
    complete: False for a profile cut short (interrupted): what it holds was measured, the rest is
              None, and a rerun completes it
    """

    model: str
    spec: dict
    input: InputInfo
    env: dict
    rows: list[ModuleStat]
    totals: dict[str, int | float | None]
    coverage: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    complete: bool = True  # False: an interrupted profile, kept with what it measured
    conventions: dict[str, dict] = field(default_factory=dict)
    runtimes: list[dict] = field(default_factory=list)
    schema: str = SCHEMA

    def row(self, name: str = "") -> ModuleStat:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no module named {name!r} in the report of {self.model}")

    def input_text(self, sep: str = "x") -> str:
        """The input in words: '3x256x192' for the (C, H, W) shorthand, else every tensor argument
        ('args[0] 1x16 int64; kwargs['mask'] 1x16 bool')."""
        if self.input.get("shape"):
            return sep.join(map(str, self.input["shape"]))
        return "; ".join(f"{a['path']} {sep.join(map(str, a['shape']))} {a['dtype']}"
                         for a in self.input.get("arguments", []))

    def count(self, convention: str):
        """The whole model's raw count under `convention` (archlab's is totals['macs'])."""
        return self.totals.get("macs" if convention == "archlab" else convention)

    def to_frame(self):
        """One row per module: module, parent, type, depth, params, trainable_params, input_shape,
        output_shape, calls, macs, flops, act_bytes, latency_ms (with latency_ms_p10 / _p90),
        self_ms (with self_ms_p10 / _p90), page_faults, peak_bytes, the roofline (ROOFLINE), then
        one column per other convention (`macs[fvcore]`)."""
        import pandas as pd

        records = []
        for r in self.rows:
            rec = {"module": r.name, "parent": r.parent, "type": r.type, "depth": r.depth,
                   "params": r.params, "trainable_params": r.trainable_params,
                   "input_shape": r.input_shape, "output_shape": r.output_shape, "calls": r.calls,
                   "macs": r.macs, "flops": r.flops, "act_bytes": r.act_bytes,
                   "latency_ms": r.latency_ms, "latency_ms_p10": r.latency_ms_p10,
                   "latency_ms_p90": r.latency_ms_p90, "self_ms": r.self_ms,
                   "self_ms_p10": r.self_ms_p10, "self_ms_p90": r.self_ms_p90,
                   "page_faults": r.page_faults, "peak_bytes": r.peak_bytes}
            rec.update({k: getattr(r, k) for k in ROOFLINE})
            if self.input.get("mode") == "train":
                rec.update(macs_backward=r.macs_backward, saved_bytes=r.saved_bytes,
                           latency_ms_backward=r.latency_ms_backward,
                           self_ms_backward=r.self_ms_backward)
                rec.update({k: getattr(r, k) for k in ROOFLINE_BACKWARD})
            rec.update({f"macs[{k}]": v for k, v in r.counts.items()})
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def to_dict(self) -> dict:
        """As asdict, but the rows (thousands of flat records) copied one level deep: asdict's
        recursive deep copy made most of the cost of writing a report."""
        out = asdict(dataclasses.replace(self, rows=[]))
        out["rows"] = [{f: (dict(v) if isinstance(v := getattr(r, f), dict) else v)
                        for f in _ROW_FIELDS} for r in self.rows]
        return out

    def to_latex(self, depth: int = 1, **kwargs) -> str:
        """The module tree down to `depth` as a booktabs LaTeX table for a paper, the conventions
        named in its caption (archlab.report.latex.report_latex: conventions=, caption=, label=;
        that module imports nothing of results, so there is no import circle)."""
        from .report.latex import report_latex

        return report_latex(self, depth=depth, **kwargs)

    def to_json(self, indent: int | None = None) -> str:
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
        return write_atomic(path, self.to_json())


def merge_latency(counted: Report, timed: Report) -> Report:
    """`counted` (a profile interrupted after counting) completed with the latency of `timed` (the
    same model, input and device, profiled with count=False): one complete report."""
    if [r.name for r in counted.rows] != [r.name for r in timed.rows]:
        raise ValueError(f"cannot merge profiles of different models ({counted.model}, {timed.model})")
    rows = [ModuleStat(**{**asdict(c), **{k: getattr(t, k) for k in _TIMED}})
            for c, t in zip(counted.rows, timed.rows)]
    for r in rows:  # the roofline was counted; its efficiency needs the time now known
        if r.attainable_ms is not None and r.latency_ms:
            r.efficiency = min(1.0, r.attainable_ms / r.latency_ms)
    totals = {**counted.totals, **{k: v for k, v in timed.totals.items() if k.startswith("latency")}}
    notes = [n for n in counted.notes if not n.startswith("incomplete:")] + [
        n for n in timed.notes if n not in counted.notes]
    env = {**timed.env, "conventions": counted.env.get("conventions")}
    if "machine" in counted.env:  # the roofline's ceilings, measured with the counts
        env["machine"] = counted.env["machine"]
    return Report(model=counted.model, spec=counted.spec, input=counted.input, env=env, rows=rows,
                  totals=totals, coverage=counted.coverage, timing=timed.timing, notes=notes,
                  conventions=counted.conventions, runtimes=timed.runtimes or counted.runtimes)


# the per-module fields a latency pass measures (merge_latency takes them from the timed report)
_TIMED = ("latency_ms", "self_ms", "self_ms_p10", "self_ms_p90", "latency_ms_p10",
          "latency_ms_p90", "page_faults")


class ReportError(UsageError):
    """A report file that cannot be read as an archlab report: the file the user gave (exit 2)."""


class ProfileError(RuntimeError):
    """A profile whose model failed to run; `report` holds what was measured before the failure."""

    def __init__(self, message: str, report: Report):
        super().__init__(message)
        self.report = report


class ProfileInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a termination signal) during a profile; `report` holds what finished, marked
    incomplete."""

    def __init__(self, report: Report, signum: int | None = None):
        super().__init__("interrupted")
        self.report, self.signum = report, signum


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


_ADAPTER = None


def check_report_data(data: dict, path) -> None:
    """Field-by-field check of a report read from disk against the Report dataclass's types
    (pydantic): a ReportError naming the file and the first wrong field, before anything is shown."""
    global _ADAPTER
    from pydantic import TypeAdapter, ValidationError

    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(Report)
    try:
        _ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        got = repr(first["input"])
        got = got if len(got) <= 60 else got[:57] + "..."
        raise ReportError(f"{path}: field {where}: {first['msg'][0].lower()}{first['msg'][1:]}, got "
                          f"{got}{more}; this is not a report archlab wrote: profile again") from None


def load_report(path: str | Path) -> Report:
    """Read a report.json (or a folder holding one); a clear ReportError if it is not one, naming
    the file and the first field that is wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    data = read_json(path, SCHEMA, "report", "archlab profile NAME")
    check_report_data(data, path)
    check_not_negative(data, path)
    return Report.from_dict(data)


# Per-module figures that are counts, bytes or times: a negative one was never measured.
_COUNTED = ("params", "trainable_params", "macs", "flops", "act_bytes", "latency_ms", "self_ms",
            "peak_bytes", "macs_backward", "saved_bytes", "self_ms_backward",
            "latency_ms_backward", "calls", "self_ms_p10", "self_ms_p90", "latency_ms_p10",
            "latency_ms_p90", "page_faults", "bytes_moved", "intensity", "ops", "attainable_ms",
            "efficiency", "bytes_moved_backward", "ops_backward", "attainable_ms_backward",
            "efficiency_backward")

# the roofline's per-module fields (ModuleStat), forward and backward, in table order
ROOFLINE = ("bytes_moved", "intensity", "ops", "attainable_ms", "efficiency", "bound")
ROOFLINE_BACKWARD = ("bytes_moved_backward", "ops_backward", "attainable_ms_backward",
                     "efficiency_backward", "bound_backward")
BOUNDS = ("compute", "memory", "overhead")


def roofline_terms(macs, bytes_moved, ops, machine: dict | None) -> dict | None:
    """The attainable time of work of `macs` multiply-adds, `bytes_moved` bytes and `ops`
    operators on a machine of measured ceilings (Report.env["machine"]): each term in ms
    (compute = MACs / peak, memory = bytes / bandwidth, overhead = ops x floor), attainable_ms =
    max(compute, memory) + overhead, and bound, the largest term. None when a figure is missing
    or nothing ran. One rule, read by the profile (rows) and the report (self cost, comparisons)."""
    if not machine or any(v is None for v in (macs, bytes_moved, ops)) or not ops:
        return None
    terms = {"compute": 1e3 * macs / machine["peak_macs_per_s"],
             "memory": 1e3 * bytes_moved / machine["mem_bytes_per_s"],
             "overhead": 1e3 * ops * machine["op_floor_s"]}
    return {**{f"{k}_ms": v for k, v in terms.items()},
            "attainable_ms": max(terms["compute"], terms["memory"]) + terms["overhead"],
            "bound": max(BOUNDS, key=lambda k: terms[k])}


def check_not_negative(data: dict, path) -> None:
    """A ReportError naming the first negative count, byte size or time (rows, their counts and
    param_bytes, and every total): types alone let a hand-edited -5 params through."""
    def numbers(prefix, mapping, keys=None):
        for k in (keys if keys is not None else mapping):
            v = mapping.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                yield f"{prefix}{k}", v

    found = list(numbers("totals.", data.get("totals") or {}))
    for i, row in enumerate(data.get("rows") or []):
        found += numbers(f"rows.{i}.", row, _COUNTED)
        found += numbers(f"rows.{i}.counts.", row.get("counts") or {})
        found += numbers(f"rows.{i}.param_bytes.", row.get("param_bytes") or {})
    for where, v in found:
        if v < 0:
            raise ReportError(f"{path}: field {where}: must not be negative, got {v!r}; this is not "
                              "a report archlab wrote: profile again")
