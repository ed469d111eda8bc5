"""The `archlab` command: list models, profile one, compare several, sweep a design space (here or on
a cluster), merge the stores of several machines, show a saved report.

Thin on purpose: it parses arguments, builds the run's options once (a Measure and a Policy,
archlab.study.options), calls archlab.study (or the registry and the report tables), and prints.
One file per command; common.py holds the exit codes, the error line and the shared options.
"""
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .main import main, parser

__all__ = ["main", "parser", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]
