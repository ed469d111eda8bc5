"""Every figure archlab writes (matplotlib Figures, no pyplot state, PNG on disk), one module per
family, all laid out by one toolkit (toolkit.py): no text is clipped by the figure and no two texts
overlap, measured on the rendered figure (toolkit.text_defects, asserted in tests/test_figures.py).

model.py     per model: cost by stage, top modules, MACs vs latency, a drill into one module
compare.py   a comparison: deltas against the base, MACs vs latency of every model
runtimes.py  deploy runtimes: one model's latency by runtime, each choice's change by runtime
training.py  a training step by stage
roofline.py  every module against the machine's measured ceilings
sweep.py     the Pareto plot of a sweep or of merged stores
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..compare import Comparison
from ...results import Report
from ..tables import is_training
from .compare import plot_cost_scatter, plot_deltas, plot_module_deltas, reported_ap
from .model import plot_drill, plot_macs_vs_latency, plot_stages, plot_top_modules
from .roofline import has_roofline, plot_roofline, plot_roofline_comparison
from .runtimes import plot_runtime_deltas, plot_runtimes
from .defects import text_defects
from .toolkit import finish, has_latency
from .training import plot_training

__all__ = ["MODEL_PLOTS", "COMPARISON_PLOTS", "save", "save_model_plots", "save_comparison_plots",
           "plot_stages", "plot_top_modules", "plot_macs_vs_latency", "plot_drill", "plot_deltas",
           "plot_cost_scatter", "plot_module_deltas", "plot_runtimes", "plot_runtime_deltas",
           "plot_training", "plot_roofline", "plot_roofline_comparison", "reported_ap",
           "text_defects"]

MODEL_PLOTS = {"stages.png": plot_stages, "top_modules.png": plot_top_modules,
               "macs_vs_latency.png": plot_macs_vs_latency}
COMPARISON_PLOTS = {"deltas.png": plot_deltas, "cost_scatter.png": plot_cost_scatter}


def save(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Every figure archlab writes goes through here: laid out by the toolkit's rule at the dpi it
    is saved at (text sizes are in points, so the layout is measured as it will be written)."""
    if fig.dpi != dpi or not getattr(fig, "archlab_finished", False):
        fig.set_dpi(dpi)
        finish(fig)
    fig.savefig(path, dpi=dpi)
    return path


def model_figures(report: Report) -> dict:
    """file name -> a function making that figure, for every per-model figure that applies (no
    latency plot when latency was not measured, a runtime plot when deploy runtimes were)."""
    makers = {f: make for f, make in MODEL_PLOTS.items()
              if f != "macs_vs_latency.png" or has_latency(report)}
    if has_roofline(report):  # a report made before the roofline has none to draw
        makers["roofline.png"] = plot_roofline
    if report.runtimes:
        makers["runtimes.png"] = plot_runtimes
    if is_training(report):
        makers["training.png"] = plot_training
    return makers


def comparison_figures(comp: Comparison) -> dict:
    """file name -> a function making that figure, for every comparison figure that applies."""
    makers = dict(COMPARISON_PLOTS)
    if comp.paired_runtimes:
        makers["runtime_deltas.png"] = plot_runtime_deltas
    if any(has_roofline(r) for r in comp.reports.values()):
        makers["roofline.png"] = plot_roofline_comparison
    return makers


def save_model_plots(report: Report, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    return {f: save(make(report), out / f) for f, make in model_figures(report).items()}


def save_comparison_plots(comp: Comparison, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    return {f: save(make(comp), out / f) for f, make in comparison_figures(comp).items()}
