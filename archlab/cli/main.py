"""The parser and the dispatch of the `archlab` command; each command lives in its own file."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import compare, list as list_, merge, profile, show, sweep
from ..common import UsageError
from .common import EXIT_FAILED, EXIT_USAGE, Parser, err

COMMANDS = {"list": list_, "profile": profile, "show": show, "compare": compare, "sweep": sweep,
            "merge": merge}


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="archlab", description="Profile HRNet, Lite-HRNet, Dite-HRNet and their "
                 "design-choice variants per module: params, MACs under several conventions, "
                 "latency and memory.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add(sub)
    return top


def main(argv=None) -> int:
    from ..common import first_line
    from ..study import signals_as_interrupts
    from ..study.run import interrupt_signal

    args = parser().parse_args(argv)
    try:
        with signals_as_interrupts():
            return COMMANDS[args.command].run(args)
    except KeyboardInterrupt as exc:  # outside a run: nothing was measured yet
        err("interrupted before anything was measured; nothing to keep")
        return 128 + interrupt_signal(exc)
    except UsageError as exc:  # every request archlab refuses: one line, no traceback
        err(first_line(exc, limit=10_000))
        return EXIT_USAGE
    except Exception as exc:  # archlab's own failure (or torch's): not the user's mistake
        err(f"internal error: {first_line(exc, typed=True)}; what finished is kept in the store; "
            f"the traceback is in {_log_traceback()}")
        return EXIT_FAILED


def _log_traceback() -> Path:
    """The exception being handled, written to a log file under archlab's cache folder."""
    import traceback

    from ..common import cache_dir, write_atomic

    path = cache_dir() / "errors" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    return write_atomic(path, f"archlab {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")


if __name__ == "__main__":
    sys.exit(main())
