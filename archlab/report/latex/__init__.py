"""Tables for a paper: a comparison (or a profile's module tree) as a LaTeX table through pandas'
Styler, with booktabs rules (\\toprule, \\midrule, \\bottomrule: `\\usepackage{booktabs}`) and the
conventions behind every number named in the caption.

This package reads only the objects it is given (a Report, a Comparison) and imports nothing of
archlab but the units, so that Report.to_latex (in archlab.results) may call it without an import
circle.
"""
from .tables import comparison_latex, report_latex
from .text import tex

__all__ = ["comparison_latex", "report_latex", "tex"]
