"""The plot of a training profile: what each stage keeps for the backward pass beside what it
costs in step time — where checkpointing would save memory, and what the step spends where."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..results import Report
from .plotkit import LAT_COLOR, MEM_COLOR, figure, latency_title, setting_line
from .tables import OVERHEAD_STAGE, stage_frame
from .units import is_missing, ms


def plot_training(report: Report) -> Figure:
    """Saved-for-backward memory by stage (MiB) beside step time by stage (forward + backward
    operators, the optimizer step's operators, and the framework overhead), each with its share
    of the whole: the step-time bars add up to the step's end-to-end median (stage_frame)."""
    df = stage_frame(report).iloc[::-1]
    fig = figure(12, 0.4 * len(df) + 2.4)
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(df))
    saved = np.nan_to_num(df["saved_bytes"].astype(float).to_numpy()) / 2 ** 20
    step = np.nan_to_num(df["latency_ms"].astype(float).to_numpy())
    for ax, values, color, unit, title in (
            (left, saved, MEM_COLOR, "MiB", "memory saved for backward"),
            (right, step, LAT_COLOR, "ms", "step time by stage: forward + backward operators\n"
             f"(the bars add up to the step's median, {ms(step.sum())} ms)")):
        total = values.sum()
        ax.barh(y, values, 0.6, color=color)
        for yi, v in zip(y, values):
            if v > 0:
                ax.annotate(f"{v:.3g} {unit} ({100 * v / total:.0f}%)" if total else f"{v:.3g}",
                            (v, yi), xytext=(3, 0), textcoords="offset points", va="center",
                            fontsize=7)
        ax.set_xlabel(f"{unit}, per batch")
        ax.set_title(title, fontsize=10)
        ax.margins(x=0.3)
        ax.grid(axis="x", alpha=0.3)
    left.set_yticks(y, ["framework overhead" if s == OVERHEAD_STAGE else s for s in df["stage"]],
                    fontsize=8)
    t = report.totals
    peak = "" if is_missing(t.get("peak_bytes")) else f"; peak of the step {t['peak_bytes'] / 2 ** 20:.1f} MiB"
    fig.suptitle(f"{report.model}: a training step by stage{peak}\n{setting_line(report)}"
                 f"{latency_title(report)}", fontsize=10)
    return fig
