"""Plots of a comparison: what each design choice changes against its base, and counted MACs
against measured latency for every model, with the authors' reported accuracy as labels."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..compare import Comparison
from ..units import unreliable
from .labels import bar_labels, place_labels
from .toolkit import LAT_COLOR, MAC_COLOR, MEM_COLOR, PAR_COLOR, figure, finish, log_axes, palette
from ...results import Report

def plot_deltas(comp: Comparison) -> Figure:
    """For each variant, the % change in params, MACs, latency and peak memory against its base.
    The latency change is the paired ratio's (timed side by side with the base), with its p10–p90
    as error bars; medians timed separately are left to the table."""
    df = comp.to_frame()
    df = df[df["base"].notna() & df["model"].isin(list(comp.reports))].copy()
    df["latency_pct"] = df["d_latency_paired_pct"].astype(float)
    err_lo = 100.0 * (df["latency_ratio"].astype(float) - df["latency_ratio_p10"].astype(float))
    err_hi = 100.0 * (df["latency_ratio_p90"].astype(float) - df["latency_ratio"].astype(float))
    bars = [("d_params_pct", "params", PAR_COLOR), ("d_macs_pct", "MACs [archlab]", MAC_COLOR),
            ("latency_pct", "latency, paired with base (bars: p10–p90 of the ratio)", LAT_COLOR),
            ("d_peak_bytes_pct", "peak memory", MEM_COLOR)]
    fig = figure(11, 0.6 * max(len(df), 2) + 2.6)
    ax = fig.add_subplot()
    if df.empty:
        ax.text(0.5, 0.5, "no variant with a measured base", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return finish(fig)
    key = "latency_pct" if df["latency_pct"].notna().any() else "d_macs_pct"
    order = df[key].sort_values(na_position="first").index
    df, err_lo, err_hi = df.loc[order], err_lo.loc[order], err_hi.loc[order]
    y = np.arange(len(df))
    h = 0.8 / len(bars)
    values = []
    for i, (col, label, color) in enumerate(bars):
        vals = df[col].astype(float).to_numpy()
        pos = y + (len(bars) / 2 - i - 0.5) * h
        xerr = None
        if col == "latency_pct":
            xerr = np.nan_to_num(np.array([err_lo.to_numpy(), err_hi.to_numpy()])).clip(min=0)
        ax.barh(pos, np.nan_to_num(vals), h, color=color, label=label, xerr=xerr,
                error_kw={"elinewidth": 0.8, "capsize": 2})
        ends = _ends(vals, xerr)
        values += [(x, p, "n/a" if np.isnan(v) else f"{v:+.1f}%" + flag)
                   for x, p, v, flag in zip(ends, pos, vals, _flags(df, col))]
    ax.margins(x=0.05)
    spread = np.abs(df[[c for c, _, _ in bars]].astype(float).to_numpy())
    symlog = np.nanmax(spread, initial=0) > 300  # one huge change must not flatten the others
    if symlog:
        ax.set_xscale("symlog", linthresh=20)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")  # -100, 1,000: not -10^2
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{m}\nvs {b}" for m, b in zip(df["model"], df["base"])], fontsize=8)
    ax.set_xlabel("change against the base, %  (negative = cheaper)"
                  + ("; symmetric log scale beyond ±20%" if symlog else ""))
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=8,
               frameon=False)
    by = "latency" if key == "latency_pct" else "MACs"
    shaky = [m for m, f in zip(df["model"], _flags(df, "latency_pct")) if f]
    warn = (f"\n⚠ paired latency not reliable for {', '.join(shaky)} (see table.md)"
            if shaky else "")
    what = comp.what()
    ax.set_title(f"{what[0].upper()}{what[1:]} (sorted by {by} change)\n{comp.title()}{warn}",
                 fontsize=10)
    bar_labels(fig, ax, values)  # last: measured on the final layout
    return finish(fig)


def _ends(vals, xerr) -> list[float]:
    """Where a bar's value label goes: past the bar and its error bar, away from 0 (0 for n/a)."""
    out = []
    for i, v in enumerate(vals):
        if np.isnan(v):
            out.append(0.0)
        elif xerr is None:
            out.append(v)
        else:
            out.append(min(v, v - xerr[0][i]) if v < 0 else max(v, v + xerr[1][i]))
    return out


def _flags(df, col) -> list[str]:
    """' ⚠' for each latency bar whose paired ratio is not reliable, '' elsewhere."""
    if col != "latency_pct":
        return [""] * len(df)
    return [" ⚠" if unreliable(v) else "" for v in df["latency_ratio_reliable"]]


def plot_cost_scatter(comp: Comparison) -> Figure:
    """MACs vs measured latency of every model, labelled with the authors' reported COCO AP."""
    df = comp.to_frame()
    df = df[df["macs"].notna()]
    ycol, ylabel = "latency_ms", "latency, ms (median, each model timed on its own; bars p10–p90)"
    if not df["latency_ms"].notna().any():
        ycol, ylabel = "params", "params (latency not measured)"
    df = df[df[ycol].notna()]
    fig = figure(10, 7)
    ax = fig.add_subplot()
    families = [f for f in dict.fromkeys(df["family"].fillna("?"))]
    colors = dict(zip(families, palette(len(families))))
    for fam in families:
        sel = df[df["family"].fillna("?") == fam]
        ref = sel[sel["reference"]]  # the authors' models, whatever they are compared with
        var = sel[~sel["reference"]]
        if ycol == "latency_ms":
            err = np.array([(sel[ycol] - sel["latency_p10_ms"]).clip(lower=0).fillna(0),
                            (sel["latency_p90_ms"] - sel[ycol]).clip(lower=0).fillna(0)])
            ax.errorbar(sel["macs"], sel[ycol], yerr=err, fmt="none", ecolor=colors[fam], alpha=0.5)
        ax.scatter(ref["macs"], ref[ycol], s=70, color=colors[fam], label=f"{fam}", zorder=3)
        ax.scatter(var["macs"], var[ycol], s=40, facecolors="white", edgecolors=colors[fam],
                   linewidths=1.5, zorder=3, label=f"{fam} variant" if len(var) else None)
    labels = []
    for _, row in df.sort_values("reference", ascending=False).iterrows():  # the bases first
        rep = comp.reports.get(row["model"])
        ap = reported_ap(rep) if rep is not None else None
        txt = row["model"] + (" ⚠" if ycol == "latency_ms" and unreliable(row["latency_reliable"])
                              else "") + (f"\nAP {ap[1]:.1f}{ap[0]} (reported)" if ap else "")
        labels.append((row["macs"], row[ycol], txt, bool(ap)))
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_axes(ax)
    ax.set_xlabel("MACs [archlab] per batch (log)")
    ax.set_ylabel(ylabel + " (log)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title="filled: reference model\nhollow: design-choice variant",
              title_fontsize=8)
    shaky = [m for m, f in zip(df["model"], df["latency_reliable"]) if unreliable(f)]
    warn = (f"\n⚠ latency not reliable for {', '.join(shaky)} (see table.md)"
            if shaky and ycol == "latency_ms" else "")
    kind = "design-choice variants and their bases" if comp.is_of_variants() else "models"
    ax.set_title(f"Counted MACs against measured latency of {kind}; COCO AP is the authors' "
                 f"reported figure, not measured\n{comp.title()}{warn}", fontsize=10)
    place_labels(fig, {ax: labels})  # last: the layout must be final before text is measured
    return fig


def reported_ap(report: Report):
    """('', AP) of the COCO AP the authors reported at this report's input, else None: an AP
    belongs to the input it was measured at, never to the same model at another input. (The
    first item, a suffix naming another input, is kept '' for the callers that print it.)"""
    rep = dict((k, v) for k, v in ((report.spec or {}).get("reported") or []))
    shape = report.input.get("shape") or []
    own = (report.spec or {}).get("input_size") or []
    if len(shape) == 3 and f"coco_ap_{shape[1]}x{shape[2]}" in rep:
        return "", rep[f"coco_ap_{shape[1]}x{shape[2]}"]
    if "coco_ap" in rep and list(shape) == list(own):  # no input named: the model's own
        return "", rep["coco_ap"]
    return None


def plot_module_deltas(comp: Comparison, top: int = 8) -> Figure:
    """Per variant, the groups of shared modules whose time changed most against the base (timed
    side by side with it, archlab.profile.timing.module_pairs): the change of the medians in ms,
    with the per-round ratio's p10–p90 as error bars (in ms of the base's time); the groups that
    explain the change (compare table.md) drawn solid, the others hollow."""
    deltas = comp.module_deltas()
    fig = figure(11, 1.0 + sum(min(top, len(md.get("groups", []))) * 0.28 + 0.6
                               for md in deltas.values()) if deltas else 3)
    ax = fig.add_subplot()
    if not deltas:
        ax.text(0.5, 0.5, "no per-module paired deltas in this comparison", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return finish(fig)
    labels, y = [], 0
    for model, md in deltas.items():
        groups = sorted(md.get("groups", []), key=lambda g: -abs(g["delta_ms"]))[:top]
        for g in reversed(groups):
            lo = g["base_ms"] * (g["ratio"] - g["ratio_p10"])
            hi = g["base_ms"] * (g["ratio_p90"] - g["ratio"])
            solid = g["group"] in md.get("explaining", [])
            ax.barh(y, g["delta_ms"], 0.7, color=LAT_COLOR if solid else "white",
                    edgecolor=LAT_COLOR, xerr=[[max(lo, 0)], [max(hi, 0)]],
                    error_kw={"elinewidth": 0.8, "capsize": 2})
            labels.append(f"{model}: {g['group']} ×{g['members']}")
            y += 1
        y += 0.5
    ax.set_yticks(_positions(deltas, top), labels, fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("change of the group's time against the base, ms (inclusive; bars: p10–p90 of "
                  "the per-round ratio)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Which modules explain each variant's change (solid: explaining groups)\n"
                 f"{comp.title()}", fontsize=10)
    return finish(fig)


def _positions(deltas, top) -> list[float]:
    out, y = [], 0.0
    for md in deltas.values():
        k = min(top, len(md.get("groups", [])))
        out += [y + i for i in range(k)]
        y += k + 0.5
    return out
