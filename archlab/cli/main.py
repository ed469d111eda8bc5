"""The parser and the dispatch of the `archlab` command; each command lives in its own file."""
from __future__ import annotations

import argparse
import sys

from . import compare, list as list_, merge, profile, show, sweep
from .common import EXIT_USAGE, Parser, err

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
    except (ValueError, OSError, RuntimeError, MemoryError) as exc:
        # every user mistake lands here (ReportError is a ValueError): one line, no traceback
        err(first_line(exc, limit=10_000))
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
