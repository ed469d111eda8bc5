"""The plots of one report.

Per model: cost by stage, top modules by latency beside top modules by MACs, and MACs versus
latency per module — because for these designs FLOPs do not predict speed (depthwise convs,
channel shuffles, attention and gating run far below a dense conv's throughput), and the plots
should show where.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .labels import place_labels
from .toolkit import (LAT_COLOR, MAC_COLOR, figure, finish, has_latency, latency_title, log_axes,
                      palette, setting_line, shorts)
from ...results import Report
from ..tables import OVERHEAD_STAGE, end_to_end_ms, self_frame, stage_frame, top_modules
from ..units import is_missing, ms, si

def plot_stages(report: Report) -> Figure:
    """Share of params, MACs and end-to-end latency taken by each top-level module, side by side;
    the latency bar ends with the framework overhead (time in no operator), so it adds up to 100%."""
    df = stage_frame(report)
    root = report.row("")
    metrics = [("params", "params", root.params, si(root.params)),
               ("macs", "MACs [archlab]", root.macs, si(root.macs) + "MAC")]
    if has_latency(report):
        total = end_to_end_ms(report)
        metrics.append(("latency_ms", "latency, end to end\n(operators + overhead)", total,
                        f"{ms(total)} ms"))
    fig = figure(9, 6)
    ax = fig.add_subplot()
    colors = palette(len(df))
    x = np.arange(len(metrics))
    bottoms = np.zeros(len(metrics))
    for i, row in df.iterrows():
        shares = np.nan_to_num([100.0 * row[k] / tot if tot and not is_missing(row[k]) else 0.0
                                for k, _, tot, _ in metrics])
        overhead = row["stage"] == OVERHEAD_STAGE
        ax.bar(x, shares, 0.6, bottom=bottoms, color="#dddddd" if overhead else colors[i],
               hatch="//" if overhead else None, edgecolor="white",
               label=(row["stage"] if overhead or not row["type"]
                      else f"{row['stage']} ({row['type']})"))
        for j, s in enumerate(shares):
            if s >= 4:
                label = "overhead" if overhead else row["stage"]
                ax.text(x[j], bottoms[j] + s / 2, f"{label}  {s:.0f}%", ha="center",
                        va="center", fontsize=8)
        bottoms += shares
    ax.set_xticks(x, [f"{label}\ntotal {tot_txt}" for _, label, _, tot_txt in metrics])
    ax.set_ylabel("share of the model's total, %")
    ax.set_ylim(0, 102)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="stage (top-level module)")
    note = latency_title(report) if has_latency(report) else "  (latency not measured)"
    ax.set_title(f"{report.model}: cost by stage\n{setting_line(report)}{note}", fontsize=10)
    return finish(fig)


def plot_top_modules(report: Report, n: int = 12) -> Figure:
    """Top modules by self latency beside top modules by self MACs, each showing both shares."""
    fig = figure(13, 0.36 * n + 2.2)
    panels = [("latency_ms", "top modules by self time"), ("macs", "top modules by MACs [archlab]")]
    axes = fig.subplots(1, 2)
    handles = None
    for ax, (by, title) in zip(axes, panels):
        if by == "latency_ms" and not has_latency(report):
            ax.text(0.5, 0.5, "latency not measured\n(profiled with --no-latency)", ha="center",
                    va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        df = top_modules(report, by=by, n=n).iloc[::-1]
        y = np.arange(len(df))
        lat = df["latency_share_pct"].astype(float).fillna(0).to_numpy()
        mac = df["macs_share_pct"].astype(float).fillna(0).to_numpy()
        ax.barh(y + 0.2, lat, 0.4, color=LAT_COLOR,
                label="latency share, % of end to end (self: own operators)")
        ax.barh(y - 0.2, mac, 0.4, color=MAC_COLOR, label="MACs share, % (self, archlab)")
        names = [f"{m or '(model itself)'}  [{t}]"
                 for m, t in zip(shorts(df["module"]), df["type"])]
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlabel("share of the model's total, %")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        handles = ax.get_legend_handles_labels()
    if handles:
        fig.legend(*handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"{report.model}: where the time goes vs where the MACs go\n{setting_line(report)}\n"
                 "self cost = a module's own operators, its children's excluded (a container that "
                 f"runs none costs nothing){latency_title(report) if has_latency(report) else ''}",
                 fontsize=9)
    return finish(fig)


def plot_macs_vs_latency(report: Report, max_types: int = 8) -> Figure:
    """Leaf modules' MACs vs their self time (their own operators), log-log, coloured by type."""
    fig = figure(9, 6.5)
    ax = fig.add_subplot()
    df = self_frame(report)
    if not has_latency(report):
        ax.text(0.5, 0.5, "latency not measured (--no-latency)", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return finish(fig)
    df = df[df["leaf"] & df["latency_ms"].notna() & df["macs"].notna()]
    shown = df[(df["macs"] > 0) & (df["latency_ms"] > 0)]
    hidden = len(df) - len(shown)
    types = shown["type"].value_counts().index[:max_types].tolist()
    colors = dict(zip(types, palette(len(types))))
    for t in types + ["other"]:
        sel = shown[shown["type"] == t] if t != "other" else shown[~shown["type"].isin(types)]
        if len(sel):
            ax.scatter(sel["macs"], sel["latency_ms"], s=18, alpha=0.75, label=f"{t} ({len(sel)})",
                       color=colors.get(t, "#999999"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    root = report.row("")
    if len(shown) and root.macs and root.latency_ms:
        ylim = ax.get_ylim()
        rate = root.macs / root.latency_ms  # MACs per ms of operator time, the model as a whole
        xs = np.geomspace(shown["macs"].min(), shown["macs"].max(), 50)
        ys = xs / rate
        keep = (ys >= ylim[0]) & (ys <= ylim[1])
        ax.plot(xs[keep], ys[keep], "k--", lw=1,
                label=f"model average: {rate * 1e3 / 1e9:.2f} GMAC/s")
        ax.set_ylim(ylim)
    log_axes(ax)
    ax.set_xlabel("MACs [archlab] of the leaf module, per batch (log)")
    ax.set_ylabel("self time, ms: the leaf's own operators (log)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, title="module type (count)", loc="upper left")
    extra = f"\n({hidden} leaf modules with 0 MACs or 0 ms not shown)" if hidden else ""
    ax.set_title(f"{report.model}: MACs vs time per leaf module; above the line = slower per MAC "
                 f"than the model's operators on average\n{setting_line(report)}{extra}"
                 f"{latency_title(report)}", fontsize=9)
    top = shown.nlargest(5, "latency_ms")
    place_labels(fig, {ax: [(x, y, name, False) for x, y, name in
                            zip(top["macs"], top["latency_ms"], shorts(top["module"], 40))]})
    return fig


def plot_drill(report: Report, root: str, depth: int = 1) -> Figure:
    """Inside one module (a stage, a block): each submodule's share of its MACs and latency."""
    from ..tables import module_frame

    df = module_frame(report, depth, root=root)
    df = df[df["rel_depth"] == depth].iloc[::-1]
    fig = figure(10, 0.38 * max(len(df), 3) + 2)
    ax = fig.add_subplot()
    y = np.arange(len(df))
    ax.barh(y - 0.2, df["macs_share_pct"].astype(float).fillna(0), 0.4, color=MAC_COLOR,
            label="MACs [archlab], % of the module (inclusive)")
    if has_latency(report):
        ax.barh(y + 0.2, df["latency_share_pct"].astype(float).fillna(0), 0.4, color=LAT_COLOR,
                label="latency, % of the module (inclusive operator time)")
    inside = [m[len(root) + 1:] if root else m for m in df["module"]]
    ax.set_yticks(y, [f"{m}  [{t}]" for m, t in zip(shorts(inside), df["type"])], fontsize=8)
    ax.set_xlabel("share of the module's total, %")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8, frameon=False)
    top = report.row(root)
    ax.set_title(f"{report.model}: inside {root or '(model)'} [{top.type}]: {si(top.macs)} MACs"
                 + (f", {ms(top.latency_ms)} ms" if not is_missing(top.latency_ms) else "")
                 + f"\n{setting_line(report)}"
                 + (latency_title(report) if has_latency(report) else ""), fontsize=10)
    return finish(fig)
