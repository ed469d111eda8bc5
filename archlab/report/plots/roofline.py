"""roofline.png: every leaf module against the machine's measured ceilings, and in a comparison
an arrow per design choice from its base to the variant.

Left: the classic roofline (Williams et al., CACM 2009): MACs per byte moved against the MAC rate
reached, under the memory roof (bandwidth x intensity) and the compute roof (peak). Right: what
the roofline leaves out and these designs are full of: operators against time, above the floor
line (operators x the time of the cheapest operator). Points are sized by time and coloured by
bound; the ceilings' values are in the legends, not on the axes, so no text can collide.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...results import Report
from .labels import place_labels
from .toolkit import figure, finish, log_axes, palette, setting_line, shorts
from ..tables import children
from ..units import is_missing

BOUND_COLORS = {"compute": "#1b9e77", "memory": "#7570b3", "overhead": "#d95f02"}


def has_roofline(report: Report) -> bool:
    return bool(report.env.get("machine")) and report.row("").bytes_moved is not None


def _leaves(report: Report, backward: bool):
    """(name, macs, bytes, ops, ms, bound, measured) of every leaf that ran an operator; ms is the
    measured self time, else the attainable time (measured False)."""
    kids, sfx = children(report), "_backward" if backward else ""
    out = []
    for r in report.rows:
        ops, took = getattr(r, "ops" + sfx), getattr(r, "self_ms" + sfx)
        if r.name in kids or not ops:
            continue
        measured = not is_missing(took) and took > 0
        t = took if measured else getattr(r, "attainable_ms" + sfx)
        if is_missing(t) or t <= 0:
            continue
        out.append((r.name, getattr(r, "macs" + sfx) or 0, getattr(r, "bytes_moved" + sfx) or 0,
                    ops, t, getattr(r, "bound" + sfx), measured))
    return out


def _roofs(ax, machine: dict, xs) -> None:
    peak, bw = machine["peak_macs_per_s"], machine["mem_bytes_per_s"]
    ridge = peak / bw  # both roofs drawn: the range always spans the ridge
    lo, hi = max(min(min(xs), ridge) / 3, 1e-3), max(max(xs), ridge) * 3
    x = np.geomspace(lo, hi, 200)
    ax.plot(x, np.minimum(bw * x, peak), color="#333333", lw=1.6,
            label=f"roofs: memory {bw / 1e9:.3g} GB/s × intensity, compute {peak / 1e9:.3g} GMAC/s")
    ax.axvline(peak / bw, color="#999999", lw=0.8, ls=":",
               label=f"ridge: {peak / bw:.3g} MACs per byte")


def _floor(ax, machine: dict, ops) -> None:
    x = np.geomspace(max(min(ops) / 2, 0.5), max(ops) * 2, 50)
    ax.plot(x, 1e3 * x * machine["op_floor_s"], color="#333333", lw=1.6,
            label=f"floor: operators × {1e6 * machine['op_floor_s']:.3g} µs")


def _sizes(times, biggest):
    return 12 + 260 * np.asarray(times, dtype=float) / max(biggest, 1e-12)


def plot_roofline(report: Report) -> Figure:
    """The leaves of one profile (forward; a training profile adds a row for the backward)."""
    backward = report.row("").bytes_moved_backward is not None
    passes = (False, True) if backward else (False,)
    fig = figure(13, 5.6 * len(passes) + 1.2)
    machine = report.env.get("machine") or {}
    axes = fig.subplots(len(passes), 2, squeeze=False)
    labels = {}
    for (left, right), back in zip(axes, passes):
        leaves = _leaves(report, back) if machine else []
        if not leaves:
            for ax in (left, right):
                ax.text(0.5, 0.5, "no roofline in this report", ha="center", va="center",
                        transform=ax.transAxes)
                ax.set_axis_off()
            continue
        biggest = max(t for *_, t, _, _ in leaves)
        rated = [lf for lf in leaves if lf[1] > 0 and lf[2] > 0]
        for bound, color in BOUND_COLORS.items():
            sel = [lf for lf in rated if lf[5] == bound]
            if sel:
                left.scatter([m / b for _, m, b, *_ in sel], [m / (t / 1e3) for _, m, b, _, t, *_
                                                               in sel],
                             s=_sizes([lf[4] for lf in sel], biggest), color=color, alpha=0.6,
                             edgecolors="white", linewidths=0.4)
            sel = [lf for lf in leaves if lf[5] == bound]
            if sel:
                right.scatter([lf[3] for lf in sel], [lf[4] for lf in sel],
                              s=_sizes([lf[4] for lf in sel], biggest), color=color, alpha=0.6,
                              edgecolors="white", linewidths=0.4)
        if rated:
            _roofs(left, machine, [m / b for _, m, b, *_ in rated])
        _floor(right, machine, [lf[3] for lf in leaves])
        measured = all(lf[6] for lf in leaves)
        what = "backward of " if back else ""
        y_what = "measured self time" if measured else "attainable time (not timed)"
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_yscale("log")
            log_axes(ax)
            ax.grid(True, which="major", alpha=0.3)
        left.set_xlabel("intensity: MACs per byte moved (log)")
        left.set_ylabel(f"MACs per second over {y_what} (log)")
        right.set_xlabel("operators run (log)")
        right.set_ylabel(f"{y_what}, ms (log)")
        left.set_title(f"{what}leaves under the roofs ({len(leaves) - len(rated)} with 0 MACs "
                       "only on the right)", fontsize=9)
        right.set_title(f"{what}leaves above the operator floor; size = time", fontsize=9)
        top = sorted(rated, key=lambda lf: -lf[4])[:4]
        names = shorts([lf[0] for lf in top], 40)
        labels[left] = [(m / b, m / (t / 1e3), name, False)
                        for name, (_, m, b, _, t, *_) in zip(names, top)]
    _legend(fig, axes)
    fig.suptitle(f"{report.model}: roofline per module, against the machine's measured ceilings\n"
                 f"{setting_line(report)}", fontsize=10)
    place_labels(fig, labels)  # last: on the final layout
    return fig


def _legend(fig, axes) -> None:
    """One legend under the panels (none inside them: the biggest points are often in a corner):
    the bounds with markers of one size, then the roofs and the floor."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", ms=7, color=c, alpha=0.6, label=f"{b}-bound")
               for b, c in BOUND_COLORS.items()]
    seen = set()
    for ax in np.ravel(axes):
        for h, lb in zip(*ax.get_legend_handles_labels()):
            if lb not in seen:
                seen.add(lb)
                handles.append(h)
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)


def plot_roofline_comparison(comp) -> Figure:
    """Every model as a whole (MACs, bytes and operators of its forward against its end-to-end
    median) with an arrow from each design choice's base to the variant."""
    reps = {n: r for n, r in comp.reports.items() if has_roofline(r)
            and not is_missing(r.totals.get("latency_ms"))}
    fig = figure(13, 6.4)
    left, right = fig.subplots(1, 2)
    if not reps:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no timed report with a roofline", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
        return finish(fig)
    machine = next(iter(reps.values())).env["machine"]
    pts = {}
    for n, r in reps.items():
        row, t = r.row(""), r.totals["latency_ms"]
        pts[n] = (row.macs / row.bytes_moved, row.macs / (t / 1e3), row.ops, t)
    pairs = [(b, n) for n, b in comp.bases.items() if b in pts and n in pts]
    colors = dict(zip([n for _, n in pairs], palette(len(pairs))))
    bases = sorted({b for b, _ in pairs} | {n for n in pts if n not in colors})
    for ax, (xi, yi) in ((left, (0, 1)), (right, (2, 3))):
        ax.scatter([pts[n][xi] for n in bases], [pts[n][yi] for n in bases], s=60,
                   color="#333333", zorder=3, label="base / reference model")
        for b, n in pairs:
            ax.annotate("", xy=(pts[n][xi], pts[n][yi]), xytext=(pts[b][xi], pts[b][yi]),
                        arrowprops=dict(arrowstyle="-|>", color=colors[n], lw=1.4))
            ax.scatter([pts[n][xi]], [pts[n][yi]], s=30, color=colors[n], zorder=3, label=n)
        ax.set_xscale("log")
        ax.set_yscale("log")
    _roofs(left, machine, [p[0] for p in pts.values()])
    _floor(right, machine, [p[2] for p in pts.values()])
    for ax in (left, right):
        _pad(ax)
        log_axes(ax)
        ax.grid(True, which="major", alpha=0.3)
    left.set_xlabel("intensity: MACs per byte moved, whole forward (log)")
    left.set_ylabel("MACs per second over the end-to-end median (log)")
    right.set_xlabel("operators per forward (log)")
    right.set_ylabel("end-to-end median, ms (log)")
    handles, labels = right.get_legend_handles_labels()
    roofs = [(h, lb) for h, lb in zip(*left.get_legend_handles_labels())
             if lb.startswith(("roofs", "ridge"))]
    left.legend(*zip(*roofs), fontsize=7, loc="lower right")
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="arrow: base → variant",
               title_fontsize=7)
    fig.suptitle(f"Roofline of each design choice against its base (ceilings of "
                 f"{machine['threads']} threads, {machine['dtype']})\n{comp.title()}", fontsize=10)
    place_labels(fig, {right: [(pts[n][2], pts[n][3], n, True) for n in bases]})
    return fig


def _pad(ax) -> None:
    """Room around the data on log axes (a decade's fifth each side), so arrows and labels fit."""
    for get, put in ((ax.get_xlim, ax.set_xlim), (ax.get_ylim, ax.set_ylim)):
        lo, hi = get()
        put(lo / 1.6, hi * 1.6)
