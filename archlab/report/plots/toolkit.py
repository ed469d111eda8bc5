"""What every archlab figure shares: figures without pyplot, titles that state the settings and are
wrapped to the room they have, colours, tick labels in SI form with the digits that tell them apart,
short module names, and finish(), which every figure goes through before it is shown or saved.

The layout rule (defects.text_defects): no text is clipped by the figure and no two texts overlap.
Titles and axis labels are wrapped here; point and bar labels are placed by labels.py."""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter, LogLocator, NullFormatter

from ...results import Report
from ..units import is_missing, si

LAT_COLOR, MAC_COLOR, PAR_COLOR, MEM_COLOR = "#d95f02", "#1f78b4", "#33a02c", "#7570b3"
DPI = 110  # the dpi figures are written at, so they are laid out and measured as written
PAD = 4  # px kept free at the figure's edges


def figure(w: float, h: float) -> Figure:
    """A Figure with its own Agg canvas: no pyplot state, safe in long runs and notebooks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def setting_line(report: Report) -> str:
    """'input 3x256x192, batch 1, cpu (name), 2 threads' for titles."""
    shape = report.input_text()
    env = report.env
    dev = env.get("device", "?")
    name = env.get("device_name")
    dev = f"{dev} ({name})" if name and name != dev else dev
    return f"input {shape}, batch {report.input.get('batch', 1)}, {dev}, {env.get('threads', '?')} threads"


def has_latency(report: Report) -> bool:
    """Per-module latency was measured (operator times)."""
    return not is_missing(report.row("").latency_ms)


def latency_title(report: Report) -> str:
    """The line a title of a plot showing latency ends with: '⚠ latency not reliable: why' when the
    timing says so, else ''."""
    tm = report.timing or {}
    if tm.get("reliable") is False:  # one line: fit_titles wraps it to the figure
        return "\n⚠ latency not reliable: " + "; ".join(tm.get("warnings") or [])
    return ""


def short(name: str, width: int = 48, head: int = 2) -> str:
    """Shorten a module path from the middle, keeping where it is (its first `head` parts, e.g.
    stages.1) and what it is (the longest tail that fits, starting at a named part, e.g.
    spatial.3.convs.0.conv): 'stages.1 … spatial.3.convs.0.conv'."""
    parts = name.split(".")
    if len(name) <= width or len(parts) <= head + 1:
        return name
    first = ".".join(parts[:head])
    best = parts[-1]
    for k in range(len(parts) - 1, head, -1):
        tail = ".".join(parts[k:])
        if len(first) + 3 + len(tail) > width:
            break
        if not parts[k].isdigit():  # a tail that starts with a bare index says nothing
            best = tail
    return f"{first} … {best}"


def shorts(names, width: int = 48) -> list[str]:
    """`short` of each name, keeping more of the head where two different names would read the
    same (two modules that differ in the elided middle): a label names one module."""
    names = list(names)
    out = [short(n, width) for n in names]
    for head in range(3, max((n.count(".") for n in names), default=0) + 1):
        seen: dict = {}
        for n, o in zip(names, out):
            seen.setdefault(o, set()).add(n)
        clash = {o for o, ns in seen.items() if len(ns) > 1}
        if not clash:
            break
        out = [short(n, width + 8, head) if o in clash else o for n, o in zip(names, out)]
    return out


class SITicks(Formatter):
    """Tick labels in SI form (60 M, 1.1862 M, 0.002) with the fewest significant digits that
    write every tick exactly, so two ticks never read the same; nothing at or below 0 on a log
    axis."""

    def __init__(self, log: bool = False):
        self.log, self.digits = log, 1

    def set_locs(self, locs):
        super().set_locs(locs)
        shown = [v for v in locs if v != 0 and np.isfinite(v)]
        self.digits = max([_digits(v) for v in shown] or [1])

    def __call__(self, x, pos=None) -> str:
        return "" if self.log and x <= 0 else si(x, self.digits)


def _digits(v: float) -> int:
    for d in range(1, 8):
        if abs(float(f"{v:.{d}g}") - v) <= 1e-9 * abs(v):
            return d
    return 8


def log_axes(ax) -> None:
    """Log axes with plain tick labels (60 M, 200 M; 3, 10 ms) at 1-2-5 steps, not 6×10^7."""
    for axis in (ax.xaxis, ax.yaxis):
        lo, hi = (ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
        subs = (1.0, 2.0, 5.0) if hi / max(lo, 1e-30) < 1e4 else (1.0,)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_major_formatter(SITicks(log=True))
        axis.set_minor_formatter(NullFormatter())


def fit_titles(fig) -> None:
    """Wrap every title and axis label wider than the room it is centred in (a suptitle: the
    figure; an axes' title or x label: as far as the nearest axes beside it or the figure's edge;
    a y label: its axes' height), then let the layout make room for the lines it gained. Ends on a
    draw of the settled layout, which the label placers measure without drawing again."""
    for _ in range(4):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        changed = False
        for t, room, vertical in _wrappable(fig):
            b = Text.get_window_extent(t, renderer)
            size = b.height if vertical else b.width
            if size > room + 0.5:
                t.set_text(_wrap(t.get_text(), room / size))
                changed = True
        if not changed:
            return


def finish(fig):
    """The last step of every figure, before it is shown or saved: titles fitted to the figure.
    Idempotent; marks the figure finished, so that saving it does not lay it out again."""
    fit_titles(fig)
    fig.archlab_finished = True
    return fig


def _wrappable(fig):
    """(text, room in px, vertical) of every title and axis label."""
    page = fig.bbox
    out = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        out.append((fig._suptitle, page.width - 2 * PAD, False))
    frames = {ax: ax.get_window_extent() for ax in fig.axes if ax.get_visible()}
    for ax, f in frames.items():
        left, right = page.x0 + PAD, page.x1 - PAD
        for other, g in frames.items():  # the axes beside this one, in the same row
            if other is not ax and g.y0 < f.y1 and g.y1 > f.y0:
                if g.x1 <= f.x0:
                    left = max(left, g.x1)
                elif g.x0 >= f.x1:
                    right = min(right, g.x0)
        cx = (f.x0 + f.x1) / 2
        room = 2 * min(cx - left, right - cx)
        out += [(t, room, False) for t in (ax.title, ax.xaxis.label) if t.get_text()]
        if ax.yaxis.label.get_text():
            out.append((ax.yaxis.label, f.height, True))
    return out


def _wrap(text: str, ratio: float) -> str:
    """Each line of `text` wrapped to `ratio` of the longest line's length (ratio < 1)."""
    lines = text.split("\n")
    width = max(8, int(max(len(ln) for ln in lines) * ratio) - 1)
    return "\n".join(textwrap.fill(ln, width) if len(ln) > width else ln for ln in lines)


def palette(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
