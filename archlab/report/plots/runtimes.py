"""Plots of deploy runtimes: one model's latency under each runtime, and each design choice's latency
delta under each runtime side by side — does a choice's cost survive compilation?"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...results import Report
from ..compare import Comparison
from ..units import duration, ratio, unreliable
from .labels import bar_labels
from .toolkit import figure, finish, palette, setting_line


def plot_runtimes(report: Report) -> Figure:
    """Latency under each runtime: the bar is the runtime's own median over rounds timed side by
    side with eager, with its own p10–p90; the label adds the median of the per-round ratios to
    eager, named so, because it need not equal the ratio of the two medians (one slow round moves
    a median of 4 rounds, not the paired ratio). A runtime whose outputs differ from eager's is
    hatched and marked."""
    rows = [r for r in report.runtimes if r.get("latency_ms") is not None]
    fig = figure(9, 1.4 + 0.6 * max(len(report.runtimes), 2))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    colors = palette(len(rows))
    labels = []
    for i, r in enumerate(rows):
        med = r["latency_ms"]
        own = (r.get("details") or {}).get("samples_ms") or []
        lo, hi = np.percentile(own, [10, 90]) if len(own) else (med, med)
        err = [[max(0.0, med - lo)], [max(0.0, hi - med)]]
        ax.barh(y[i], med, 0.6, xerr=err, color=colors[i], capsize=3,
                hatch=None if r["valid"] else "//", edgecolor="black" if not r["valid"] else None)
        if r["name"] == "eager":
            text = f"{duration(med)} (the base of the ratios)"
        else:
            text = (f"{duration(med)}; paired ratio {ratio(r['ratio_to_eager'])} eager "
                    f"(p10–p90 {ratio(r['ratio_p10'], False)}–{ratio(r['ratio_p90'], False)})")
        text += ("  not valid: outputs differ" if not r["valid"] else "") + \
            (" ⚠" if r.get("reliable") is False else "")
        labels.append((med + err[1][0], y[i], text))
    ax.set_yticks(y, [r["name"] for r in rows])
    ax.set_xlabel("latency, ms: each runtime's median over rounds timed side by side with eager "
                  "(bars: its p10–p90). Paired ratio: the median over rounds of runtime / eager, "
                  "which need not equal the ratio of the medians")
    failed = [r["name"] for r in report.runtimes if r.get("latency_ms") is None]
    shaky = [r["name"] for r in rows if r.get("reliable") is False]
    more = f"\nnot timed: {', '.join(failed)} (see summary.md)" if failed else ""
    more += f"\n⚠ not reliable: {', '.join(shaky)} (see summary.md)" if shaky else ""
    ax.set_title(f"{report.model}: latency by runtime\n{setting_line(report)}{more}", fontsize=10)
    bar_labels(fig, ax, labels, fontsize=8, color="#000000")  # last: on the final layout
    return finish(fig)


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
    labels = []
    for i, ((suffix, label), color) in enumerate(zip(suffixes, palette(len(suffixes)))):
        r = df[f"latency_ratio{suffix}"].astype(float).to_numpy()
        lo = df[f"latency_ratio_p10{suffix}"].astype(float).to_numpy()
        hi = df[f"latency_ratio_p90{suffix}"].astype(float).to_numpy()
        pos = y + (len(suffixes) / 2 - i - 0.5) * h
        err = np.nan_to_num(100 * np.array([r - lo, hi - r])).clip(min=0)
        ax.barh(pos, np.nan_to_num(100 * (r - 1)), h, xerr=err, color=color, label=label,
                error_kw={"elinewidth": 0.8, "capsize": 2})
        valid = df.get(f"latency_ratio_valid{suffix}")
        for k, (p, v, ok, rel) in enumerate(zip(pos, r, valid if valid is not None
                                                else [True] * len(df),
                                                df[f"latency_ratio_reliable{suffix}"])):
            text = "n/a" if np.isnan(v) else f"{100 * (v - 1):+.1f}%"
            text += (" not valid" if ok is False else "") + (" ⚠" if unreliable(rel) else "")
            d = 0.0 if np.isnan(v) else 100 * (v - 1)  # past the bar and its error bar
            labels.append((min(d, d - err[0][k]) if d < 0 else max(d, d + err[1][k]), p, text))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{m}\nvs {b}" for m, b in zip(df["model"], df["base"])], fontsize=8)
    ax.set_xlabel("latency change against the base, %, paired (both timed side by side under "
                  "the same runtime); bars: p10–p90")
    ax.margins(x=0.05)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=len(suffixes),
               fontsize=8, frameon=False, title="runtime")
    ax.set_title(f"Does the latency change survive deployment? {comp.what()}\n{comp.title()}",
                 fontsize=10)
    bar_labels(fig, ax, labels)  # last: on the final layout
    return finish(fig)
