"""What every archlab plot shares: figures without pyplot, titles that state the settings, colours,
log axes with plain tick labels, labels that do not overlap, short module names."""
from __future__ import annotations

from matplotlib.figure import Figure

from ..results import Report
from .units import is_missing, si

LAT_COLOR, MAC_COLOR, PAR_COLOR, MEM_COLOR = "#d95f02", "#1f78b4", "#33a02c", "#7570b3"


def figure(w: float, h: float) -> Figure:
    """A Figure with its own Agg canvas: no pyplot state, safe in long runs and notebooks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(w, h), layout="constrained")
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
    import textwrap

    tm = report.timing or {}
    if tm.get("reliable") is False:
        text = "⚠ latency not reliable: " + "; ".join(tm.get("warnings") or [])
        return "\n" + textwrap.fill(text, 100)
    return ""


def short(name: str, width: int = 48) -> str:
    """Shorten a module path from the middle, keeping where it is (its first two parts, e.g.
    stages.1) and what it is (the longest tail that fits, starting at a named part, e.g.
    spatial.3.convs.0.conv): 'stages.1 … spatial.3.convs.0.conv'."""
    if len(name) <= width:
        return name
    parts = name.split(".")
    head = ".".join(parts[:2])
    best = parts[-1]
    for k in range(len(parts) - 1, 1, -1):
        tail = ".".join(parts[k:])
        if len(head) + 3 + len(tail) > width:
            break
        if not parts[k].isdigit():  # a tail that starts with a bare index says nothing
            best = tail
    return f"{head} … {best}"


def place_labels(fig, ax, labels):
    """Label points (x, y, text, bold) where the text covers no other label and no point.

    Tries a ring of offsets around each point and keeps the first free one, or the least covered
    one when none is free; a thin line joins a label to its point.
    """
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()  # settle the constrained layout before measuring text
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    points = [ax.transData.transform((x, y)) for x, y, _, _ in labels]
    placed = [Bbox.from_extents(px - 5, py - 5, px + 5, py + 5) for px, py in points]
    offsets = [(6, 6), (6, -14), (-6, 6), (-6, -14), (8, 18), (8, -26), (-8, 18), (-8, -26),
               (14, 0), (-14, 0), (12, 32), (-12, 32), (12, -40), (-12, -40), (30, 10), (-30, 10)]
    line = dict(arrowstyle="-", lw=0.5, color="#888888", shrinkA=0, shrinkB=2)

    def covered(bb):
        if not (bb.x0 >= frame.x0 and bb.x1 <= frame.x1 and bb.y0 >= frame.y0 and bb.y1 <= frame.y1):
            return float("inf")
        return sum(max(0, min(bb.x1, p.x1) - max(bb.x0, p.x0)) * max(0, min(bb.y1, p.y1) - max(bb.y0, p.y0))
                   for p in placed)

    for x, y, txt, bold in sorted(labels, key=lambda t: (t[0], t[1])):
        best = None
        for dx, dy in offsets:
            t = ax.annotate(txt, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                            ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top",
                            color="#000000" if bold else "#222222",
                            fontweight="bold" if bold else "normal", arrowprops=line)
            t.set_in_layout(False)
            t.get_window_extent(renderer)  # places the annotation; its own extent includes the arrow
            bb = Text.get_window_extent(t).expanded(1.05, 1.1)  # the text alone
            cost = covered(bb)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, t, bb)
            else:
                t.remove()
            if cost == 0:
                break
        placed.append(best[2])


def _tick(v, _pos) -> str:
    return si(v, 2).replace(".0 ", " ") if v >= 1 else f"{v:g}"


def log_axes(ax) -> None:
    """Log axes with plain tick labels (60 M, 200 M; 3, 10 ms) at 1-2-5 steps, not 6×10^7."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        lo, hi = (ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
        subs = (1.0, 2.0, 5.0) if hi / max(lo, 1e-30) < 1e4 else (1.0,)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_major_formatter(FuncFormatter(_tick))
        axis.set_minor_formatter(NullFormatter())


def palette(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
