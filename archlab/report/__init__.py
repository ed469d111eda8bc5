"""Results, tables, comparisons, plots and report files."""
from .result import ModuleStat, Report, ReportError, load_report

__all__ = ["ModuleStat", "Report", "ReportError", "load_report"]
