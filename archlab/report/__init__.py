"""Results, tables, comparisons, plots and report files.

The result objects load eagerly; tables, comparisons, plots and files load on first use, so
`import archlab` does not pay for pandas and matplotlib.
"""
from ..results import ModuleStat, Report, ReportError, load_report

_LAZY = {
    "Comparison": "compare", "load_comparison": "compare",
    "module_frame": "tables", "module_table": "display", "self_frame": "tables",
    "stage_frame": "tables", "top_modules": "tables", "totals_frame": "tables", "render": "display",
    "write_report": "files", "write_comparison": "files",
    "summary_markdown": "summary",
    "plot_stages": "plots", "plot_top_modules": "plots", "plot_macs_vs_latency": "plots",
    "plot_deltas": "plots", "plot_module_deltas": "plots", "plot_cost_scatter": "plots", "plot_drill": "plots",
    "totals_lines": "tables", "display_frame": "display", "stage_names": "tables",
    "plot_runtimes": "plots.runtimes", "plot_runtime_deltas": "plots.runtimes",
    "comparison_latex": "latex", "report_latex": "latex",
}

__all__ = ["ModuleStat", "Report", "ReportError", "load_report", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
