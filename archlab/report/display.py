"""Tables as text: a module frame formatted for people (the tree indented, units in the headers, shapes
as torchinfo prints them) and rendered as an aligned table, markdown, CSV or JSON."""
from __future__ import annotations

import pandas as pd

from ..common import UsageError
from ..results import Report
from .tables import module_frame
from .units import MAX_ROW_SPREAD_PCT, is_missing, mib, ms, pct, ppm, si, spread_pct


def display_frame(df: pd.DataFrame, model: str = "", *, batch: int = 1, conventions=None,
                  indent: str = "  ", marked: bool = False) -> pd.DataFrame:
    """Format a module_frame for people: the tree indented, units in the headers (a convention
    published in its own unit, from its entry in `conventions`, shown in that unit); at batch > 1
    every header of a per-batch figure says so. `marked`: the tree drawn with visible marks
    (tree_label), for markdown."""
    out = pd.DataFrame()
    out["module"] = [tree_label(m.rsplit(".", 1)[-1] if m else (model or "(model)"), int(d),
                                indent, marked) for m, d in zip(df["module"], df["rel_depth"])]
    out["type"] = df["type"]
    out["output shape"] = [shape_text(v, c) for v, c in zip(df["output_shape"], df["calls"])]
    out["params"] = [si(v) for v in df["params"]]
    out["trainable"] = [si(v) for v in df["trainable_params"]]
    out["MACs[archlab]"] = [si(v) for v in df["macs"]]
    out["FLOPs[archlab]"] = [si(v) for v in df["flops"]]
    out["MACs %"] = [pct(v) for v in df["macs_share_pct"]]
    out["latency ms"] = spread_cells(df, "latency_ms")
    out["latency %"] = [pct(v) for v in df["latency_share_pct"]]
    out["self ms"] = spread_cells(df, "self_ms")
    out["act MiB"] = [mib(v) for v in df["act_bytes"]]
    out["peak MiB"] = [mib(v) for v in df["peak_bytes"]]
    if "macs_backward" in df:  # a training step: what the backward costs beside the forward
        out["MACs bwd"] = [si(v) for v in df["macs_backward"]]
        out["saved MiB"] = [mib(v) for v in df["saved_bytes"]]
        out["latency bwd ms"] = [ms(v) for v in df["latency_ms_backward"]]
    for col in df.columns:
        if col.startswith("macs["):
            conv = col[5:-1]
            entry = (conventions or {}).get(conv, {})
            div, label = entry.get("divisor", 1), entry.get("published", "")
            if div == 1 or not label:
                out[f"MACs[{conv}]"] = [si(v) for v in df[col]]
            else:
                out[f"{conv} {label}"] = ["n/a" if is_missing(v) else f"{v / div:.3f}"
                                          for v in df[col]]
    if "error" in df and df["error"].notna().any():
        out["error"] = df["error"].fillna("")
    if df["latency_ms"].isna().all():  # profiled without latency: no columns of n/a
        out = out.drop(columns=["latency ms", "latency %", "self ms"])
    if batch > 1:
        per_batch = [c for c in out.columns if "%" not in c and (
            c.split("[")[0].split(" ")[0] in PER_BATCH or c.split(" ")[0] in (conventions or {}))]
        out = out.rename(columns={c: f"{c} per batch of {batch}" for c in per_batch})
    return out


def tree_label(name: str, depth: int, indent: str = "  ", marked: bool = False) -> str:
    """A module's name at its depth in the tree: indented for a terminal; for markdown marked
    '· · └ name', since markdown renderers strip a cell's leading spaces (and some, Python's
    str.strip among them, non-breaking ones too) and the tree would be flat."""
    if not marked:
        return indent * depth + name
    return "· " * (depth - 1) + "└ " + name if depth > 0 else name


def spread_cells(df: pd.DataFrame, col: str) -> list[str]:
    """'4.1 (3.9–4.3)': a time with its p10–p90 over the operator-timed passes, ' ⚠' when that
    spans more than MAX_ROW_SPREAD_PCT of the median (as an unreliable whole-model latency is
    marked); the bare time where no spread was measured."""
    lo = df[f"{col}_p10"] if f"{col}_p10" in df else [None] * len(df)
    hi = df[f"{col}_p90"] if f"{col}_p90" in df else [None] * len(df)
    out = []
    for v, a, b in zip(df[col], lo, hi):
        text = ms(v)
        if not (is_missing(v) or is_missing(a) or is_missing(b)) and v > 0:
            text += f" ({ms(a)}–{ms(b)})"
            spread = spread_pct(v, a, b)
            text += " ⚠" if spread is not None and spread > MAX_ROW_SPREAD_PCT else ""
        out.append(text)
    return out


def shape_text(shape, calls=None, width: int = 48) -> str:
    """A module's output shape as torchinfo prints it ([1, 40, 64, 48]; a list of outputs as their
    shapes), shortened to `width`, and "×N calls" when the module ran more than once."""
    def text(s):
        if isinstance(s, list) and all(isinstance(v, int) for v in s):
            return "[" + ", ".join(map(str, s)) + "]"
        if isinstance(s, list):
            return "(" + ", ".join(text(v) for v in s) + ")"
        if isinstance(s, dict):
            return "{" + ", ".join(f"{k}: {text(v)}" for k, v in s.items()) + "}"
        return "" if s is None else str(s)
    out = text(shape)
    out = out if len(out) <= width else out[:width - 1] + "…"
    n = None if is_missing(calls) else int(calls)
    return out + (f" ×{n} calls" if n and n > 1 else "")


# headers (first word) of the figures that grow with the batch; params and shares do not
PER_BATCH = {"MACs", "FLOPs", "latency", "self", "act", "peak"}


def render(df: pd.DataFrame, fmt: str = "table", *, right=None) -> str:
    """A frame as text: 'table' (aligned columns), 'md' (pipe table), 'csv' or 'json'."""
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return df.to_json(orient="records", indent=1)
    cells = [[str(c) for c in df.columns]] + [["" if is_missing(v) else str(v) for v in row]
                                              for row in df.itertuples(index=False)]
    if right is None:  # right-align columns whose cells look numeric
        right = [i for i in range(len(df.columns))
                 if all(_numeric_looking(row[i]) for row in cells[1:])]
    if fmt == "md":
        def esc(s):
            return s.replace("|", "\\|")
        head = "| " + " | ".join(esc(c) for c in cells[0]) + " |"
        rule = "|" + "|".join("---:" if i in right else "---" for i in range(len(cells[0]))) + "|"
        body = ["| " + " | ".join(esc(c).replace("  ", "\u00a0\u00a0") for c in row) + " |"
                for row in cells[1:]]
        return "\n".join([head, rule] + body) + "\n"
    if fmt != "table":
        raise UsageError(f"unknown format {fmt!r}; choose table, md, csv or json")
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for n, row in enumerate(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _numeric_looking(s: str) -> bool:
    s = s.strip()
    if s in ("", "n/a"):
        return True
    return s[0] in "+-0123456789."


def runtime_frame(report: Report) -> pd.DataFrame:
    """The deploy runtimes of a report, formatted: latency, ratio to eager with p10–p90 (timed
    side by side with eager), how far the outputs are from eager's, preparation time, and why a
    time is not valid (its latency then in brackets)."""
    recs = []
    for r in report.runtimes:
        ratio = "n/a" if is_missing(r.get("ratio_to_eager")) else \
            f"{r['ratio_to_eager']:.2f}× ({r['ratio_p10']:.2f}–{r['ratio_p90']:.2f})"
        lat = ms(r.get("latency_ms")) if r.get("valid") else f"({ms(r.get('latency_ms'))})"
        recs.append({"runtime": r["name"], "latency ms": lat,
                     "ratio to eager (p10–p90)": ratio + (" ⚠" if r.get("reliable") is False else ""),
                     "max rel diff": ppm(r.get("max_rel_diff")),
                     "preparation s": f"{r.get('prepare_s') or 0:.1f}",
                     "valid": "yes" if r.get("valid") else "no", "note": r.get("note") or ""})
    return pd.DataFrame.from_records(recs, columns=["runtime", "latency ms", "ratio to eager (p10–p90)",
                                                    "max rel diff", "preparation s", "valid", "note"])


def runtime_table(report: Report, fmt: str = "table") -> str:
    """The deploy runtimes as text under a profile's table, headed ('' when only eager PyTorch was
    profiled)."""
    if not report.runtimes:
        return ""
    return ("\nDeploy runtimes (each timed side by side with eager PyTorch; max rel diff: its "
            "outputs against eager's, not valid beyond 100 ppm):\n\n"
            + render(runtime_frame(report), fmt, right=[1, 2, 3, 4]))


def module_table(report: Report, depth: int | None = 2, fmt: str = "table", *, root: str = "",
                 conventions=()) -> str:
    """The per-module table as text in `fmt` (csv/json keep raw numbers and full module names)."""
    df = module_frame(report, depth, root=root, conventions=conventions)
    if fmt in ("csv", "json"):
        return render(df.drop(columns=["rel_depth"]), fmt)
    return render(display_frame(df, report.model, batch=report.input.get("batch", 1) or 1,
                                conventions=report.conventions, marked=fmt == "md"), fmt)
