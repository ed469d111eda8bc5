"""The Pareto plot of a sweep (or of merged stores): counted MACs against measured latency, and against
params, every point placed, the points on the front filled and joined, the base and the authors'
models labelled with their reported COCO AP. Without latency: MACs against params only.

A design-space search asks which choices buy speed for their MACs on this device: the front answers,
and a point far above it at the same MACs is a choice whose cost the MACs do not show.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..compare import Comparison
from ..units import unreliable
from .labels import place_labels
from .toolkit import SITicks, figure, palette

MANY = 24  # beyond this many points only the front, the bases and published models are labelled


def plot_pareto(df: pd.DataFrame, comp: Comparison, *, what: str, color_by: str,
                front_by=("input", "batch")) -> Figure:
    """`df`: a sweep frame (report.sweep_table.sweep_frame); colours by `color_by` (input, device);
    one front per `front_by` group, as the frame's `front` column was computed."""
    df = df[pd.to_numeric(df["macs"], errors="coerce").notna()].copy()
    df["is_base"] = df["model"].isin(set(df["base"].dropna()))
    timed = df["latency_ms"].notna().any()
    panels = [("latency_paired_ms", "latency, ms: the base's median × the paired ratio (bars p10–p90)"),
              ("params", "params")] if timed else [("params", "params (latency not measured)")]
    fig = figure(15 if timed else 9, 7)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    groups = list(dict.fromkeys(df[color_by].astype(str))) if len(df) else []
    colors = dict(zip(groups, palette(max(len(groups), 1))))
    for i, (ax, (ycol, ylabel)) in enumerate(zip(axes, panels)):
        _draw(ax, df[df[ycol].notna()], ycol, colors, color_by, list(front_by), legend=i == 0)
        logs = (_scale(ax, "x", df["macs"]), _scale(ax, "y", df[ycol]))
        ax.set_xlabel("MACs [archlab] per batch" + (" (log)" if logs[0] else ""))
        ax.set_ylabel(ylabel + (" (log)" if logs[1] else ""))
        ax.grid(True, which="both", alpha=0.25)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, [n + (" (hollow: off the front)" if n.startswith(color_by) else "")
                         for n in names], loc="outside lower center", ncol=min(len(names), 6),
               fontsize=8, frameon=False)
    front = "MACs and latency" if timed else "MACs and params"
    shaky = [m for m, f in zip(df["model"], df["latency_paired_reliable"]) if unreliable(f)]
    warn = (f"\n⚠ latency not reliable for {len(shaky)} point(s): the front may move (see table.md)"
            if timed and shaky else "")
    head = (f"{what[0].upper()}{what[1:]}: filled points are on the Pareto front ({front}, lower "
            f"is better); ★ the base; COCO AP is the authors' reported figure at the input it was "
            f"reported at, not measured")
    fig.suptitle(f"{head}\n{comp.title()}{warn}", fontsize=10)
    # the input in each label where the colours do not say it
    inputs = color_by != "input" and "input" in df and df["input"].nunique() > 1
    place_labels(fig, {ax: _labels(df[df[ycol].notna()], ycol, inputs=inputs)
                       for ax, (ycol, _) in zip(axes, panels)})  # last
    return fig


def _scale(ax, which: str, values) -> bool:
    """A log scale where the values span more than 3x (a grid over inputs or widths), else linear
    (a grid of small changes); tick labels with the digits that tell the ticks apart (SITicks:
    params of 1.1862 M and 1.1864 M never both read 1.186 M)."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    v = pd.to_numeric(values, errors="coerce")
    v = v[v > 0]
    wide = len(v) > 0 and v.max() / v.min() > 3
    getattr(ax, f"set_{which}scale")("log" if wide else "linear")
    axis = ax.xaxis if which == "x" else ax.yaxis
    if wide:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    else:
        axis.set_major_locator(MaxNLocator(6))
    axis.set_major_formatter(SITicks(log=wide))
    return wide


def _draw(ax, df, ycol, colors, color_by, front_by, legend: bool) -> None:
    for group, color in colors.items():
        sel = df[df[color_by].astype(str) == group]
        if sel.empty:
            continue
        if ycol == "latency_paired_ms":
            lo = (sel[ycol] - sel["latency_paired_p10_ms"]).clip(lower=0).fillna(0)
            hi = (sel["latency_paired_p90_ms"] - sel[ycol]).clip(lower=0).fillna(0)
            ax.errorbar(sel["macs"], sel[ycol], yerr=np.array([lo, hi]), fmt="none", ecolor=color,
                        alpha=0.4)
        base = sel["is_base"]
        on, off = sel[sel["front"] & ~base], sel[~sel["front"] & ~base]
        ax.scatter(off["macs"], off[ycol], s=40, facecolors="white", edgecolors=color,
                   linewidths=1.5, zorder=3, label=f"{color_by} {group}" if legend else None)
        ax.scatter(on["macs"], on[ycol], s=55, color=color, edgecolors="black", linewidths=0.8,
                   zorder=4)
        b = sel[base]
        ax.scatter(b["macs"], b[ycol], s=170, marker="*", color=color if len(b) else None,
                   edgecolors="black" if b["front"].any() else color, linewidths=0.8, zorder=5)
    if ycol != "params" or df["latency_ms"].isna().all():
        on = df[df["front"]]  # the front itself, as steps from the cheapest point up, per group
        group = on[front_by].astype(str).agg("|".join, axis=1) if front_by and len(on) else None
        for n, (_, line) in enumerate(on.groupby(group) if group is not None else [(None, on)]):
            line = line.sort_values("macs")
            ax.step(line["macs"], line[ycol], where="post", color="#555555", lw=0.8, ls="--",
                    zorder=2, label="Pareto front" if legend and n == 0 else None)


def _labels(df, ycol, inputs: bool) -> list:
    """(x, y, text, bold), most important first: the bases, the published models (bold: the
    authors reported an AP at this input), the front, then every other point when few (up to
    MANY); with the input in the label where the colours do not tell it."""
    out = []
    order = df.assign(_rank=[0 if b else 1 if isinstance(a, str) else 2 if f else 3 for b, a, f
                             in zip(df["is_base"], df["reported_ap"], df["front"])])
    for _, r in order.sort_values("_rank", kind="stable").iterrows():
        ap = r["reported_ap"] if isinstance(r["reported_ap"], str) else None
        if not (len(df) <= MANY or r["front"] or r["is_base"] or ap):
            continue
        text = f"{r['model']} (base)" if r["is_base"] else str(r["tag"])
        text += f", {r['input']}" if inputs and not r["is_base"] else ""
        text += " ⚠" if ycol != "params" and unreliable(r["latency_paired_reliable"]) else ""
        out.append((r["macs"], r[ycol], text + (f"\n{ap}" if ap else ""), bool(ap)))
    return out
