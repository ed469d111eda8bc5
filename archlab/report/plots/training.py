"""The plot of a training profile: what each stage keeps for the backward pass beside what it
costs in step time — where checkpointing would save memory, and what the step spends where."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...results import Report
from ..tables import OVERHEAD_STAGE, stage_frame
from ..units import duration, is_missing, nbytes
from .labels import bar_labels
from .toolkit import LAT_COLOR, MEM_COLOR, figure, finish, latency_title, setting_line


def plot_training(report: Report) -> Figure:
    """Saved-for-backward memory by stage beside step time by stage (forward + backward
    operators, the optimizer step's operators, and the framework overhead), each with its share
    of the whole: the step-time bars add up to the step's end-to-end median (stage_frame), and
    the title gives both that median and the bars' sum, so a reader sees that they agree."""
    df = stage_frame(report).iloc[::-1]
    fig = figure(12, 0.4 * len(df) + 2.6)
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(df))
    saved = np.nan_to_num(df["saved_bytes"].astype(float).to_numpy())
    step = np.nan_to_num(df["latency_ms"].astype(float).to_numpy())
    median = report.totals.get("latency_ms")  # measured, not the sum of the parts
    adds_up = not is_missing(median) and abs(step.sum() - median) <= 0.01 * median
    told = (f"the bars add up to the step's median, {duration(median)}" if adds_up else
            f"⚠ the bars add up to {duration(step.sum())}, not to the step's median "
            f"{duration(median)}")
    value_labels = {}
    for ax, values, color, unit, fmt, title in (
            (left, saved / 2 ** 20, MEM_COLOR, "MiB", lambda v: nbytes(v * 2 ** 20),
             "memory saved for backward"),
            (right, step, LAT_COLOR, "ms", duration,
             f"step time by stage: forward + backward operators\n({told})")):
        total = values.sum()
        ax.barh(y, values, 0.6, color=color)
        labels = [(v, yi, f"{fmt(v)} ({100 * v / total:.0f}%)" if total else fmt(v))
                  for yi, v in zip(y, values) if v > 0]
        ax.set_xlabel(f"{unit}, per batch")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        value_labels[ax] = labels
    left.set_yticks(y, ["framework overhead" if s == OVERHEAD_STAGE else s for s in df["stage"]],
                    fontsize=8)
    t = report.totals
    peak = ("" if is_missing(t.get("peak_bytes"))
            else f"; peak of the step {nbytes(t['peak_bytes'])}")
    fig.suptitle(f"{report.model}: a training step by stage{peak}\n{setting_line(report)}"
                 f"{latency_title(report)}", fontsize=10)
    for ax in (left, right):  # last: on the final layout
        bar_labels(fig, ax, value_labels[ax], fontsize=7, color="#000000")
    return finish(fig)
