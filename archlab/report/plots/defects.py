"""The layout rule every figure is held to, measured on the rendered figure: no text leaves the
figure, no two texts overlap, no error bar is drawn through a text, no two leader lines cross and
no leader line runs through a text, and no axis repeats a tick label (an axis whose labels repeat
cannot be read). The geometry here is shared with the label placer (labels.py), so what it places
is what this checks."""
from __future__ import annotations

from itertools import combinations

import numpy as np
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

TOL = 1.0  # px: anti-aliasing and rounding, not a defect


def text_defects(fig, tol: float = TOL) -> list[str]:
    """One line per defect of `fig` as it is drawn now; [] when the layout is clean."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    texts = visible_texts(fig, renderer)
    boxes = [box(t, renderer) for t in texts]
    out = [f"clipped by the figure: {_name(t)}" for t, b in zip(texts, boxes)
           if b.x0 < page.x0 - tol or b.y0 < page.y0 - tol or b.x1 > page.x1 + tol
           or b.y1 > page.y1 + tol]
    out += [f"overlap: {_name(t)} and {_name(u)}"
            for (t, a), (u, b) in combinations(zip(texts, boxes), 2) if overlaps(a, b, tol)]
    leaders = [(t, leader(t, b, renderer)) for t, b in zip(texts, boxes)]
    leaders = [(t, seg) for t, seg in leaders if seg is not None]
    out += [f"leader lines cross: {_name(t)} and {_name(u)}"
            for (t, s), (u, v) in combinations(leaders, 2) if crosses(s, v)]
    out += [f"leader line of {_name(t)} through {_name(u)}" for t, s in leaders
            for u, b in zip(texts, boxes) if u is not t and hits(s, b.expanded(1, 1), tol)]
    for ax in fig.axes:
        segs = errorbar_segments(ax)
        out += [f"error bar through {_name(t)}" for t, b in zip(texts, boxes)
                if t.axes is ax and any(hits(s, b, tol) for s in segs)]
        if ax.get_visible() and ax.axison:
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                seen = [t.get_text() for t in tick_labels(axis)]
                out += [f"tick label {lb!r} repeated on the {name} axis"
                        for lb in sorted({s for s in seen if seen.count(s) > 1})]
    return out


def visible_texts(fig, renderer) -> list[Text]:
    """Every text that is drawn and says something: titles, axis and tick labels, legend texts,
    texts and annotations (an annotation whose point is off its axes is not drawn)."""
    found = [fig._suptitle, fig._supxlabel, fig._supylabel, *fig.texts]
    for leg in fig.legends:
        found += [leg.get_title(), *leg.get_texts()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        found += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                found += [axis.label, axis.offsetText, *tick_labels(axis)]
        leg = ax.get_legend()
        if leg is not None:
            found += [leg.get_title(), *leg.get_texts()]
    out, seen = [], set()
    for t in found:
        if t is None or id(t) in seen or not t.get_visible() or not t.get_text().strip():
            continue
        seen.add(id(t))
        if isinstance(t, Annotation) and not t._check_xy(renderer):
            continue
        out.append(t)
    return out


def tick_labels(axis) -> list[Text]:
    """The tick labels an axis draws now (ticks in view, labels switched on)."""
    out = []
    for tick in axis._update_ticks():
        out += [lb for lb in (tick.label1, tick.label2) if lb.get_visible() and lb.get_text()]
    return out


def box(t: Text, renderer) -> Bbox:
    """The text's own extent (an annotation's without its arrow)."""
    return Text.get_window_extent(t, renderer)


def overlaps(a: Bbox, b: Bbox, tol: float = TOL) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def leader(t: Text, b: Bbox, renderer):
    """The line an annotation draws from its text to its point, ((x, y), (x, y)) in pixels, or None
    (no arrow, or the point under the text)."""
    if not isinstance(t, Annotation) or t.arrow_patch is None:
        return None
    p = np.asarray(t._get_xy(renderer, t.xy, t.xycoords), dtype=float)
    return leader_to(p, b, (t.arrowprops or {}).get("relpos", (0.5, 0.5)))


def leader_to(p, b: Bbox, relpos=(0.5, 0.5)):
    """As matplotlib draws it: from the point to `relpos` of the text's box (a corner or an edge's
    middle), or, from the centre, to where it enters the box."""
    c = np.array([b.x0 + relpos[0] * b.width, b.y0 + relpos[1] * b.height])
    if tuple(relpos) != (0.5, 0.5):
        return (tuple(p), tuple(c)) if np.hypot(*(c - p)) > 3 else None
    t = 0.0
    for k, (lo, hi) in enumerate(((b.x0, b.x1), (b.y0, b.y1))):
        if p[k] < lo:
            t = max(t, (lo - p[k]) / (c[k] - p[k]))
        elif p[k] > hi:
            t = max(t, (hi - p[k]) / (c[k] - p[k]))
    if t == 0.0:
        return None
    end = p + t * (c - p)
    return (tuple(p), tuple(end)) if np.hypot(*(end - p)) > 3 else None


def crosses(s, v) -> bool:
    """Two segments cross (touching at an end is not crossing)."""
    def side(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    (a, b), (c, d) = s, v
    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def hits(s, b: Bbox, tol: float = TOL) -> bool:
    """A segment runs through the inside of a box (shrunk by `tol`)."""
    inner = Bbox.from_extents(b.x0 + tol, b.y0 + tol, b.x1 - tol, b.y1 - tol)
    if inner.width <= 0 or inner.height <= 0:
        return False
    if any(inner.contains(*p) for p in s):
        return True
    corners = [(inner.x0, inner.y0), (inner.x1, inner.y0), (inner.x1, inner.y1),
               (inner.x0, inner.y1)]
    return any(crosses(s, (corners[i], corners[(i + 1) % 4])) for i in range(4))


def errorbar_segments(ax) -> list:
    """The error bars of an axes as segments in pixels, cut to the axes (what is drawn)."""
    from matplotlib.container import ErrorbarContainer

    frame = ax.get_window_extent()
    out = []
    for c in ax.containers:
        bars = c if isinstance(c, ErrorbarContainer) else getattr(c, "errorbar", None)
        if bars is None:
            continue
        for lines in bars.lines[2]:
            trans = lines.get_transform()
            for seg in lines.get_segments():
                if len(seg) == 2 and np.isfinite(seg).all():
                    cut = _clip(trans.transform(seg), frame)
                    if cut is not None:
                        out.append(cut)
    return out


def _clip(seg, frame: Bbox):
    """Liang-Barsky: the part of a segment inside a box, or None."""
    (x0, y0), (x1, y1) = seg
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, x0 - frame.x0), (dx, frame.x1 - x0), (-dy, y0 - frame.y0),
                 (dy, frame.y1 - y0)):
        if p == 0:
            if q < 0:
                return None
            continue
        r = q / p
        if p < 0:
            lo = max(lo, r)
        else:
            hi = min(hi, r)
        if lo > hi:
            return None
    return (x0 + lo * dx, y0 + lo * dy), (x0 + hi * dx, y0 + hi * dy)


def _name(t: Text) -> str:
    text = t.get_text().replace("\n", " ")
    return repr(text if len(text) <= 50 else text[:47] + "...")
