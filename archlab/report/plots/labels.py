"""Labels on points and on bars, placed so that the layout rule holds (defects.py): a point label
goes to the nearest free place around its point, or is left out and counted in its axes' title;
a bar's value label sits past the end of the bar and of its error bar, and the axis widens until
every value label is inside it."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .defects import box, crosses, errorbar_segments, hits, leader_to, overlaps, visible_texts
from .toolkit import PAD, finish, fit_titles

FONT = 7
# Offsets tried, in pt from the point, nearest first: a grid rather than rings, so that labels
# of a tight cluster can stack in a column beside it, each with its own leader.
_STEPS = (0, 8, 20, 40, 65, 95, 130)
OFFSETS = sorted({(sx * dx, dy) for dx in _STEPS for sx in (1, -1) for dy in range(-150, 151, 10)
                  if math.hypot(dx, dy) >= 6},
                 key=lambda o: (round(math.hypot(*o)), -o[0], -o[1]))  # ties: right, above first
POINT = 5  # px around a labelled point that no label covers
SAME = 2  # px: points closer than this are drawn on one spot
LINE = dict(arrowstyle="-", lw=0.5, color="#888888", shrinkA=0, shrinkB=2)


def place_labels(fig, groups: dict) -> None:
    """Label points: `groups` maps an axes to its labels, (x, y, text, bold), most important
    first. A label takes the nearest place around its point where it covers no text, no legend,
    no labelled point and no error bar, and where its leader line crosses no other leader and runs
    through no text; a label with no such place is left out, and its axes' title says how many.

    Call it last: it settles the layout (titles wrapped, the count's line in the title) before it
    places anything, so nothing moves after."""
    noted: set = set()
    for attempt in range(3):
        fit_titles(fig)
        placed, dropped = _place(fig, groups)
        short = {ax for ax, n in dropped.items() if n}
        for ax in short | noted:
            _note(ax, dropped.get(ax, 0), len(groups[ax]))
        if short == noted or attempt == 2:  # the same titles carry a count: the layout held
            finish(fig)
            return
        for a in placed:
            a.remove()
        noted = short


def _note(ax, dropped: int, total: int) -> None:
    """The title's last line: how many labels were left out (the table has every point)."""
    if not hasattr(ax, "_title_before_note"):
        ax._title_before_note = ax.get_title()
        if not ax._title_before_note:
            ax.title.set_fontsize(8)
    base = ax._title_before_note
    note = f"{dropped} of {total} labels left out: no free place (every point is in the table)"
    ax.title.set_text(base if not dropped else (f"{base}\n{note}" if base else note))


def _place(fig, groups: dict):
    renderer = fig.canvas.get_renderer()  # fit_titles has just drawn the settled layout
    taken = [box(t, renderer) for t in visible_texts(fig, renderer)]
    taken += [leg.get_window_extent(renderer) for leg in
              [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if leg is not None]
    placed, dropped = [], {}
    for ax, labels in groups.items():
        labels = _merge_coincident(ax, labels)
        # greedy, in order of importance; when some find no place, once more with those first
        # (a label boxed in by its neighbours' leaders often fits when it chooses before them)
        spots, missed = _layout(fig, renderer, ax, labels, range(len(labels)), taken)
        if missed:
            again = _layout(fig, renderer, ax, labels,
                            [*missed, *(i for i in range(len(labels)) if i not in missed)], taken)
            if len(again[1]) < len(missed):
                spots, missed = again
        for i, ((dx, dy, ha, va, relpos), b, _) in spots.items():
            x, y, text, bold = labels[i]
            a = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha,
                            va=va, fontsize=FONT, fontweight="bold" if bold else "normal",
                            color="#000000" if bold else "#222222",
                            arrowprops={**LINE, "relpos": relpos})
            a.set_in_layout(False)  # placed on a settled layout, which must not move for it
            placed.append(a)
            taken.append(b)
        dropped[ax] = len(missed)
    return placed, dropped


def _layout(fig, renderer, ax, labels, order, taken):
    """Places for `labels` taken in `order`: ({index: (where, box, leader)}, [indexes missed])."""
    frame = ax.get_window_extent(renderer)
    bars = errorbar_segments(ax)
    pts = [ax.transData.transform((x, y)) for x, y, *_ in labels]
    spots = [Bbox.from_extents(px - POINT, py - POINT, px + POINT, py + POINT) for px, py in pts]
    taken, lines, found, missed = list(taken), [], {}, []
    for i in order:
        x, y, text, bold = labels[i]
        p = pts[i]
        if not (np.isfinite(p).all() and frame.contains(*p)):
            continue  # a point outside the axes is not drawn: nothing to label
        others = spots[:i] + spots[i + 1:]
        got = _spot(fig, p, _size(fig, renderer, text, bold), frame, taken, others, bars, lines)
        if got is None:
            missed.append(i)
            continue
        found[i] = got
        taken.append(got[1])
        if got[2] is not None:
            lines.append(got[2])
    return found, missed


def _merge_coincident(ax, labels) -> list:
    """Points drawn on the same spot share one label, their texts one under the other: two
    leaders from one spot cannot be told apart."""
    out, at = [], []
    for x, y, text, bold in labels:
        p = ax.transData.transform((x, y))
        near = next((i for i, q in enumerate(at) if np.hypot(*(p - q)) <= SAME), None)
        if near is None:
            out.append((x, y, text, bold))
            at.append(p)
        else:
            x0, y0, t0, b0 = out[near]
            out[near] = (x0, y0, f"{t0}\n{text}", b0 or bold)
    return out


def _spot(fig, p, size, frame, taken, spots, bars, lines):
    """The first free place around point p: ((dx, dy, ha, va, relpos), box, leader) or None."""
    w, h = size
    inside = Bbox.from_extents(frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2)
    for dx, dy in OFFSETS:
        ha = "left" if dx > 0 else "right" if dx < 0 else "center"
        va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
        ax_, ay = p[0] + dx * fig.dpi / 72, p[1] + dy * fig.dpi / 72
        x0 = ax_ if ha == "left" else ax_ - w if ha == "right" else ax_ - w / 2
        y0 = ay if va == "bottom" else ay - h if va == "top" else ay - h / 2
        b = Bbox.from_extents(x0, y0, x0 + w, y0 + h)
        if not (inside.x0 <= b.x0 and b.x1 <= inside.x1
                and inside.y0 <= b.y0 and b.y1 <= inside.y1):
            continue
        roomy = b.expanded(1.04, 1.1)
        if any(overlaps(roomy, o, 0) for o in taken) or any(overlaps(b, o, 0) for o in spots):
            continue
        if any(hits(seg, roomy, 0) for seg in bars + lines):
            continue
        # the leader leaves the label from its side nearest the point, not through its text
        relpos = ({"left": 0, "right": 1, "center": 0.5}[ha],
                  {"bottom": 0, "top": 1, "center": 0.5}[va])
        line = leader_to(np.asarray(p, dtype=float), b, relpos)
        if line is not None and (any(crosses(line, o) for o in lines) or any(
                hits(line, o) for o in taken + [o for o in spots if not o.contains(*p)])):
            continue  # (a point on top of this one cannot be missed by its leader)
        return (dx, dy, ha, va, relpos), b, line
    return None


def _size(fig, renderer, text: str, bold: bool) -> tuple[float, float]:
    t = Text(0, 0, text, fontsize=FONT, fontweight="bold" if bold else "normal")
    t.set_figure(fig)
    b = t.get_window_extent(renderer)
    return b.width, b.height


def bar_labels(fig, ax, items, fontsize: float = 6, color: str = "#333333") -> list:
    """Value labels of horizontal bars: (x, y, text), x the end of the bar or of its error bar,
    whichever lies further from 0, so no error bar runs through the label; the label goes past
    it, away from 0, and the x axis widens until every label is inside the axes."""
    out = []
    for x, y, text in items:
        left = x < 0
        out.append(ax.annotate(text, (x, y), xytext=(-3 if left else 3, 0),
                               textcoords="offset points", ha="right" if left else "left",
                               va="center", fontsize=fontsize, color=color))
    fit_titles(fig)  # draws: the first round measures that layout
    for _ in range(6):
        renderer = fig.canvas.get_renderer()
        frame = ax.get_window_extent(renderer)
        boxes = [box(t, renderer) for t in out]
        if not boxes:
            break
        over_lo = frame.x0 + PAD - min(b.x0 for b in boxes)
        over_hi = max(b.x1 for b in boxes) - (frame.x1 - PAD)
        if over_lo <= 0 and over_hi <= 0:
            break
        inv = ax.transData.inverted()
        lo = inv.transform((frame.x0 - 1.2 * max(over_lo, 0), frame.y0))[0]
        hi = inv.transform((frame.x1 + 1.2 * max(over_hi, 0), frame.y0))[0]
        cur = ax.get_xlim()
        ax.set_xlim(min(cur[0], lo), max(cur[1], hi))
        fig.draw_without_rendering()
    return out
