"""Tables made from a Report: the module tree by depth, stages, top modules, totals by convention.

Rows in a Report are inclusive (a module's own ops plus its children's). "Self" cost — inclusive
minus the direct children's — is what ranks modules without counting a parent and its children
twice; the self costs of all modules add up to the whole model. Time is measured per operator, so a
module's self time (`self_ms`) is stored as measured, and the end-to-end latency splits into the
modules' operator time plus the framework overhead no operator accounts for.
"""
from __future__ import annotations

import pandas as pd

from ..results import ROOFLINE, ROOFLINE_BACKWARD, Report
from .latency import end_to_end_ms, latency_split, latency_warning, overhead_ms, scaled_note
from .units import is_missing, mib, ms, published, si

COST = ("params", "trainable_params", "output_shape", "calls", "macs", "flops", "act_bytes",
        "latency_ms", "latency_ms_p10", "latency_ms_p90", "self_ms", "self_ms_p10", "self_ms_p90",
        "page_faults", "peak_bytes") + ROOFLINE
TRAIN_COST = ("macs_backward", "saved_bytes", "latency_ms_backward",
              "self_ms_backward") + ROOFLINE_BACKWARD


def is_training(report: Report) -> bool:
    """A profile of a training step (forward and backward) rather than of inference."""
    return report.input.get("mode") == "train"
OVERHEAD_STAGE = "framework overhead (between operators)"
OWN_STAGE = "(the model's own operators)"
OPTIMIZER_STAGE = "optimizer step"


def conventions_of(report: Report) -> list[str]:
    """The conventions the report was counted under, in the table's order."""
    return list(report.conventions) or list(report.env.get("conventions") or [])


def children(report: Report) -> dict[str, list]:
    """parent name -> its child rows (from the parent stored on each row)."""
    kids: dict[str, list] = {}
    for r in report.rows:
        if r.parent is not None:
            kids.setdefault(r.parent, []).append(r)
    return kids


def _within(name: str, root: str) -> bool:
    return root == "" or name == root or name.startswith(root + ".")


def module_frame(report: Report, depth: int | None = None, *, root: str = "",
                 conventions=()) -> pd.DataFrame:
    """One row per module under `root` (the whole model by default) down to `depth` levels below it.

    Shares are of the root's inclusive cost. `conventions` adds a raw-count column per other
    convention (`macs[fvcore]`, ...). Values stay numeric; `render` formats them.
    """
    top = report.row(root)
    base_depth = top.depth
    recs = []
    for r in report.rows:
        if not _within(r.name, root):
            continue
        rel = r.depth - base_depth
        if depth is not None and rel > depth:
            continue
        rec = {"module": r.name, "parent": r.parent, "type": r.type, "depth": r.depth,
               "rel_depth": rel}
        rec.update({k: getattr(r, k) for k in COST + (TRAIN_COST if is_training(report) else ())})
        rec["macs_share_pct"] = _share(r.macs, top.macs)
        rec["latency_share_pct"] = _share(r.latency_ms, end_to_end_ms(report) if root == ""
                                          else top.latency_ms)
        for c in conventions:
            if c != "archlab":
                rec[f"macs[{c}]"] = r.count(c)
        rec["error"] = r.error
        recs.append(rec)
    return pd.DataFrame.from_records(recs)


def _share(x, total):
    if is_missing(x) or is_missing(total) or not total:
        return None
    return 100.0 * x / total


def self_frame(report: Report, conventions=()) -> pd.DataFrame:
    """Exclusive cost per module: inclusive minus the sum of its direct children (None stays None);
    latency_ms is the module's own operator time as measured (self_ms)."""
    kids = children(report)
    keys = ["params", "macs"] + [f"macs[{c}]" for c in conventions if c != "archlab"]

    def value(r, k):
        return r.count(k[5:-1]) if k.startswith("macs[") else getattr(r, k)

    recs = []
    for r in report.rows:
        rec = {"module": r.name, "type": r.type, "depth": r.depth,
               "leaf": r.name not in kids}
        for k in keys:
            own = value(r, k)
            if is_missing(own):
                rec[k] = None
                continue
            below = sum(value(c, k) or 0 for c in kids.get(r.name, []))
            rec[k] = own - below
        rec["latency_ms"] = r.self_ms
        recs.append(rec)
    return pd.DataFrame.from_records(recs)


def top_modules(report: Report, by: str = "latency_ms", n: int = 10) -> pd.DataFrame:
    """The n modules with the largest self cost `by`: 'latency_ms' (the time of their own
    operators, so a container that runs none never ranks) or 'macs'; with both shares (latency of
    the end-to-end time, MACs of the model's)."""
    df = self_frame(report)
    df = df[df[by].notna()] if by in df else df.iloc[0:0]
    df = df[df[by] > 0].sort_values(by, ascending=False).head(n).copy()
    df["latency_share_pct"] = [_share(v, end_to_end_ms(report)) for v in df["latency_ms"]]
    df["macs_share_pct"] = [_share(v, report.row("").macs) for v in df["macs"]]
    return df.reset_index(drop=True)


CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


def stage_names(report: Report) -> list[str]:
    """The stages of a model: its top-level modules, with plain containers (a Sequential or
    ModuleList of stages) opened one level, so HR nets show stem, stages.0, stages.1, ..., head."""
    kids = children(report)
    names = []
    for r in kids.get("", []):
        inner = kids.get(r.name, [])
        names += [c.name for c in inner] if r.type in CONTAINERS and inner else [r.name]
    return names


def stage_frame(report: Report) -> pd.DataFrame:
    """The stages (see stage_names), then what lies outside them: the model's own operators (and
    params, MACs) when they cost anything, and the framework overhead as its own row. Latency
    shares are of the end-to-end time (end_to_end_ms), so the rows add up to 100%. In a training
    profile a stage's latency is its forward and backward operators' time, the optimizer step's
    operators are a row of their own, and saved_bytes is what autograd kept of a stage's forward
    for the backward."""
    root, train = report.row(""), is_training(report)

    def time_of(r, own=False):
        fwd, bwd = (r.self_ms, r.self_ms_backward) if own else (r.latency_ms, r.latency_ms_backward)
        return fwd + (bwd or 0) if train and not is_missing(fwd) else fwd

    recs = []
    for name in stage_names(report):
        r = report.row(name)
        recs.append({"stage": r.name, "type": r.type, "params": r.params, "macs": r.macs,
                     "latency_ms": time_of(r), "act_bytes": r.act_bytes,
                     "saved_bytes": r.saved_bytes})
    own = {"stage": OWN_STAGE, "type": root.type, "act_bytes": None}  # bytes are not additive
    for k in ("params", "macs", "saved_bytes"):
        total = getattr(root, k)
        own[k] = None if is_missing(total) else total - sum(x[k] or 0 for x in recs)
    own["latency_ms"] = time_of(root, own=True)
    if any(not is_missing(own[k]) and own[k] > 0
           for k in ("params", "macs", "latency_ms", "saved_bytes")):
        recs.append(own)
    optimizer = report.timing.get("op_ms_optimizer") if train else None
    if not is_missing(optimizer):
        recs.append({"stage": OPTIMIZER_STAGE, "type": "", "params": None, "macs": None,
                     "latency_ms": optimizer, "act_bytes": None, "saved_bytes": None})
    if overhead_ms(report) is not None:
        recs.append({"stage": OVERHEAD_STAGE, "type": "", "params": None, "macs": None,
                     "latency_ms": overhead_ms(report), "act_bytes": None, "saved_bytes": None})
    df = pd.DataFrame.from_records(recs, columns=["stage", "type", "params", "macs", "latency_ms",
                                                  "act_bytes", "saved_bytes"])
    totals = {"params": root.params, "macs": root.macs, "latency_ms": end_to_end_ms(report),
              "saved_bytes": root.saved_bytes}
    for k, total in totals.items():
        df[f"{k}_share_pct"] = [_share(v, total) for v in df[k]]
    return df


def totals_frame(report: Report) -> pd.DataFrame:
    """One row per convention computed: raw count, per sample, as published, and its rule."""
    batch = report.input.get("batch", 1) or 1
    recs = []
    for c in conventions_of(report):
        raw, entry = report.count(c), report.conventions.get(c, {})
        per = None if is_missing(raw) else raw / batch
        recs.append({"convention": c, "count": raw, "count_per_sample": per,
                     "published": published(entry, per), "rule": entry.get("rule", "")})
    return pd.DataFrame.from_records(recs, columns=["convention", "count", "count_per_sample",
                                                    "published", "rule"])


def totals_lines(report: Report) -> list[str]:
    """A few lines under the table: totals per convention (per sample), latency with its spread."""
    t, batch = report.totals, report.input.get("batch", 1) or 1
    shape = report.input_text()
    frozen = t.get("frozen_params")
    lines = [f"{report.model}: input {shape}, batch {batch}, {report.env.get('device')}, "
             f"{report.env.get('threads', '?')} threads; params {si(t.get('params'))}"
             + (f" ({si(frozen)} frozen)" if frozen else "")]
    if not report.complete:
        lines.insert(0, "⚠ " + next((n for n in report.notes if n.startswith("incomplete:")),
                                    "incomplete"))
    counts = [f"{r['convention']} {r['published']}" for _, r in totals_frame(report).iterrows()]
    lines.append("MACs per sample by convention: " + " | ".join(counts))
    if is_missing(t.get("latency_ms")):
        lines.append("latency: not measured")
    else:
        lines.append(f"latency (whole model, per batch): median {ms(t['latency_ms'])} ms, p10 "
                     f"{ms(t.get('latency_p10_ms'))}, p90 {ms(t.get('latency_p90_ms'))}, IQR "
                     f"{ms(t.get('latency_iqr_ms'))}, n = {t.get('latency_n', '?')}")
        split = latency_split(report)
        if split:
            parts = [f"{label} {ms(v)} ms" for label, v in split]
            lines.append(f"of which {', '.join(parts[:-1])} and {parts[-1]} (per module: self_ms, "
                         "their own operators)")
        if scaled_note(report):
            lines.append(scaled_note(report))
        flag = latency_warning(report)
        if flag:
            lines.insert(0, flag)
    if is_training(report):
        lines.append(f"training step: MACs forward {si(t.get('macs_forward'))}, backward "
                     f"{si(t.get('macs_backward'))}, step {si(t.get('macs_step'))} (per batch); "
                     f"saved for backward {mib(t.get('saved_bytes'))} MiB; the latency above is "
                     "the whole step's" + (" with an SGD step" if report.timing.get("sgd") else ""))
        lines.append(f"peak memory of the step {mib(t.get('peak_bytes'))} MiB")
    else:
        lines.append(f"peak memory {mib(t.get('peak_bytes'))} MiB")
    return lines
