"""Plots of deploy runtimes: one model's latency under each runtime, and each design choice's latency
delta under each runtime side by side — does a choice's cost survive compilation?"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..results import Report
from .compare import Comparison
from .units import unreliable
from .plotkit import figure, palette, setting_line


def plot_runtimes(report: Report) -> Figure:
    """Latency under each runtime (median over rounds timed side by side with eager), its ratio to
    eager with p10–p90; a runtime whose outputs differ from eager's is hatched and marked."""
    rows = [r for r in report.runtimes if r.get("latency_ms") is not None]
    fig = figure(8, 1.0 + 0.6 * max(len(report.runtimes), 2))
    ax = fig.add_subplot()
    names = [r["name"] for r in rows]
    y = np.arange(len(rows))
    ms = np.array([r["latency_ms"] for r in rows])
    # the ratio's p10–p90, in ms of this runtime (eager's median times the ratio's quantiles)
    eager = next((r["latency_ms"] for r in rows if r["name"] == "eager"), None)
    err = np.array([[max(0.0, r["latency_ms"] - eager * r["ratio_p10"]) if eager else 0.0
                     for r in rows],
                    [max(0.0, eager * r["ratio_p90"] - r["latency_ms"]) if eager else 0.0
                     for r in rows]])
    colors = palette(len(rows))
    for i, r in enumerate(rows):
        ax.barh(y[i], ms[i], 0.6, xerr=err[:, i:i + 1], color=colors[i], capsize=3,
                hatch=None if r["valid"] else "//", edgecolor="black" if not r["valid"] else None)
        flag = ("" if r["valid"] else "  not valid: outputs differ") + \
            (" ⚠" if r.get("reliable") is False else "")
        ax.annotate(f"{r['latency_ms']:.3g} ms, {r['ratio_to_eager']:.2f}× eager{flag}",
                    (ms[i] + err[1, i], y[i]), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xlabel("latency, ms (median over rounds timed side by side with eager; bars: the "
                  "ratio's p10–p90)")
    ax.margins(x=0.35)
    failed = [r["name"] for r in report.runtimes if r.get("latency_ms") is None]
    shaky = [r["name"] for r in rows if r.get("reliable") is False]
    more = f"\nnot timed: {', '.join(failed)} (see summary.md)" if failed else ""
    more += f"\n⚠ not reliable: {', '.join(shaky)} (see summary.md)" if shaky else ""
    ax.set_title(f"{report.model}: latency by runtime\n{setting_line(report)}{more}", fontsize=10)
    return fig


def plot_runtime_deltas(comp: Comparison) -> Figure:
    """For each model against its base: the paired latency change under eager and under every
    runtime compared, with p10–p90 error bars; a change that is not valid or not reliable is
    marked."""
    df = comp.to_frame()
    df = df[df["base"].notna() & df["model"].isin(list(comp.reports))]
    suffixes = [("", "eager")] + [(f"[{rt}]", rt) for rt in comp.paired_runtimes]
    fig = figure(10, 0.7 * max(len(df), 2) * max(1, len(suffixes) / 2) + 2)
    ax = fig.add_subplot()
    y = np.arange(len(df))
    h = 0.8 / len(suffixes)
    for i, ((suffix, label), color) in enumerate(zip(suffixes, palette(len(suffixes)))):
        r = df[f"latency_ratio{suffix}"].astype(float).to_numpy()
        lo = df[f"latency_ratio_p10{suffix}"].astype(float).to_numpy()
        hi = df[f"latency_ratio_p90{suffix}"].astype(float).to_numpy()
        pos = y + (len(suffixes) / 2 - i - 0.5) * h
        err = np.nan_to_num(100 * np.array([r - lo, hi - r])).clip(min=0)
        ax.barh(pos, np.nan_to_num(100 * (r - 1)), h, xerr=err, color=color, label=label,
                error_kw={"elinewidth": 0.8, "capsize": 2})
        valid = df.get(f"latency_ratio_valid{suffix}")
        for p, v, ok, rel in zip(pos, r, valid if valid is not None else [True] * len(df),
                                 df[f"latency_ratio_reliable{suffix}"]):
            text = "n/a" if np.isnan(v) else f"{100 * (v - 1):+.1f}%"
            text += (" not valid" if ok is False else "") + (" ⚠" if unreliable(rel) else "")
            ax.annotate(text, (0 if np.isnan(v) else 100 * (v - 1), p), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=6)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{m}\nvs {b}" for m, b in zip(df["model"], df["base"])], fontsize=8)
    ax.set_xlabel("latency change against the base, %, paired (both timed side by side under "
                  "the same runtime); bars: p10–p90")
    ax.margins(x=0.2)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=len(suffixes),
               fontsize=8, frameon=False, title="runtime")
    ax.set_title(f"Does the latency change survive deployment? {comp.what()}\n{comp.title()}",
                 fontsize=10)
    return fig
