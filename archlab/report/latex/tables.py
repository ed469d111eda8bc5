"""A comparison (or a profile's module tree) as a LaTeX table for a paper: booktabs rules, numbers in
engineering form (1.19 M, never 1.19e+06), and in the caption the conventions behind every number:
which rule counted the MACs, in which unit, how the latency was timed, on which device and threads."""
from __future__ import annotations

import re

from ..units import is_missing, mib, ms, ratio, si
from .text import (booktabs, count_format, header, rule, settings, spread_cell, tex, two_lines,
                   with_change)


# ---------------------------------------------------------------- a comparison

def comparison_latex(comp, *, caption: str | None = None, label: str | None = "tab:comparison") -> str:
    """The comparison as a booktabs table: one row per model (each base in bold, its variants
    below it), each cost with its change against the base in % on a second line, the latency
    median with its p10--p90 and the paired ratio to the base where latency was measured; the
    caption names the counting conventions, the timing method, the device and threads."""
    df, convs, s = comp.to_frame(), comp.conventions(), comp.settings()
    cols, formats = {("Model", ""): list(df["model"])}, {}
    costs = {"params": (("Params", ""), si), "macs": (("MACs", "archlab"), si),
             **{f"macs[{c}]": (header(c, e), count_format(e)) for c, e in convs.items()}}
    for key, (head, fmt) in costs.items():
        cols[head], formats[head] = list(zip(df[key], df[f"d_{key}_pct"])), with_change(fmt)
    timed = comp.latency and df["latency_ms"].notna().any()
    paired = timed and df["latency_ratio"].notna().any()
    # every cell but the name a tuple: the Styler formats it and never escapes it
    if timed:
        head = ("Latency", "ms")
        cols[head] = list(zip(df["latency_ms"], df["latency_p10_ms"], df["latency_p90_ms"],
                              df["latency_reliable"]))
        formats[head] = spread_cell(ms)
    if paired:
        head = ("vs base", "paired")
        cols[head] = list(zip(df["latency_ratio"], df["latency_ratio_p10"],
                              df["latency_ratio_p90"], df["latency_ratio_reliable"]))
        formats[head] = spread_cell(lambda v: ratio(v, times=False), r"$\times$")
    head = ("Peak", "MiB")
    cols[head], formats[head] = list(zip(df["peak_bytes"], df["d_peak_bytes_pct"])), with_change(mib)
    if caption is None:
        caption = _comparison_caption(comp, convs, s, timed, paired, df)
    cols, model_of = two_lines(cols, formats)
    bases = {i for i, b in enumerate(df["base"]) if is_missing(b) or b == ""}
    first = [k for k, i in enumerate(model_of) if i in bases and model_of.index(i) == k]
    return booktabs(cols, formats, caption=caption, label=label, bold_rows=first)


def _comparison_caption(comp, convs, s, timed, paired, df) -> str:
    batch = s.get("batch")
    per = f"per batch of {batch}" if batch not in (1, None) else "per sample"
    parts = [f"{comp.what()[0].upper()}{comp.what()[1:]}: each base in bold, each variant below "
             "it with its change against the base in % under each figure",
             f"MACs [archlab]: multiply-adds of every executed operator, functional calls "
             f"included, 1 multiply-add = 1 MAC = 2 FLOPs, {per}"]
    parts += [f"MACs [{c}]: {rule(e)}" for c, e in convs.items()]
    if timed:
        parts.append("Latency: the whole model's forward, median (p10--p90) in ms, each model "
                     "timed on its own")
    else:
        parts.append("latency not measured")
    if paired:
        parts.append("vs base: median of the per-round ratios model/base (p10--p90), the two "
                     "timed side by side in alternating rounds")
    parts.append("Peak: peak live tensor storage during a forward, MiB")
    if timed and (df["latency_reliable"].eq(False).any()
                  or df["latency_ratio_reliable"].eq(False).any()):
        parts.append("\u2020 not reliable: timing spread above 10% or the machine busy")
    parts.append("Measured " + settings(s.get("device"), s.get("device_name"), s.get("threads"),
                                          batch, s.get("input")))
    return ". ".join(p.replace(". ", "; ") for p in parts) + "."


# ---------------------------------------------------------------- one profile

def report_latex(report, *, depth: int = 1, conventions=(), caption: str | None = None,
                 label: str | None = None) -> str:
    """A profile's module tree down to `depth` (1: the model and its top-level modules) as a
    booktabs table: params, MACs [archlab] with the share of the model's, a column per other
    convention in `conventions`, and the per-module operator time where latency was measured; the
    caption names the conventions (with the whole model's count under each) and the timing."""
    frame = report.to_frame()
    frame = frame[frame["depth"] <= depth].reset_index(drop=True)
    root = report.rows[0]
    # (depth, name) cells: the tree indented with \quad, which the Styler would escape in a string
    names = [m.rsplit(".", 1)[-1] if m else report.model for m in frame["module"]]
    cols = {("Module", ""): list(zip(frame["depth"], names)), ("Type", ""): list(frame["type"]),
            ("Params", ""): list(frame["params"]), ("MACs", "archlab"): list(frame["macs"]),
            ("MACs", r"\%"): [None if is_missing(v) or not root.macs else 100.0 * v / root.macs
                              for v in frame["macs"]]}
    formats = {("Module", ""): lambda t: r"\quad " * int(t[0]) + tex(t[1]), ("Params", ""): si,
               ("MACs", "archlab"): si, ("MACs", r"\%"): lambda v: f"{v:.1f}"}
    for c in conventions:
        if c != "archlab" and f"macs[{c}]" in frame:
            head = header(c, report.conventions.get(c, {}))
            cols[head] = list(frame[f"macs[{c}]"])
            formats[head] = count_format(report.conventions.get(c, {}))
    timed = frame["latency_ms"].notna().any()
    if timed:
        cols[("Latency", "ms")], formats[("Latency", "ms")] = list(frame["latency_ms"]), ms
    return booktabs(cols, formats, caption=caption or _report_caption(report, depth, timed),
                  label=label or f"tab:{re.sub(r'[^A-Za-z0-9]+', '-', report.model)}", left=2)


def _report_caption(report, depth: int, timed: bool) -> str:
    t, env, batch = report.totals, report.env, report.input.get("batch", 1) or 1
    per = f"per batch of {batch}" if batch != 1 else "per sample"
    counts = []
    for c, e in report.conventions.items():
        raw = report.count(c)
        if c == "archlab" or is_missing(raw):
            continue
        fmt = count_format(e)
        counts.append(f"{c} {fmt(raw)}" + (f" {e['published']}" if fmt is not si else "")
                      + f" ({rule(e, unit=False)})")
    parts = [f"{report.model} by module, {depth} level(s) deep: parameters and multiply-adds "
             f"{per}, MACs % the share of the whole model's",
             "MACs [archlab]: every executed operator, functional calls included, 1 multiply-add "
             "= 1 MAC = 2 FLOPs"]
    if counts:
        parts.append("The whole model under the other conventions: " + ", ".join(counts))
    if timed:
        parts.append(f"Latency: each module's operator time, its submodules' included (median, "
                     f"ms); the whole model's "
                     f"forward {ms(t.get('latency_ms'))} ms median (p10--p90 "
                     f"{ms(t.get('latency_p10_ms'))}--{ms(t.get('latency_p90_ms'))})"
                     + (" \u2020 not reliable" if report.timing.get("reliable") is False else ""))
    parts.append("Measured " + settings(env.get("device"), env.get("device_name"),
                                          env.get("threads"), batch, report.input.get("shape")
                                          or report.input_text(), env.get("dtype")))
    return ". ".join(p.replace(". ", "; ") for p in parts) + "."
