"""The `archlab` command: list models, profile one, compare several, sweep a design space (here or on
a cluster), merge the stores of several machines, show a saved report.

Thin on purpose: it parses arguments, calls archlab.study (or the registry and the report tables),
and prints. A user's mistake (unknown model, bad --input, no GPU, unwritable or busy --out,
unreadable report, a run that would not fit in memory) prints one line and exits 2; a model that
fails while being measured is recorded, the others go on, and the exit status is 1; Ctrl-C, SIGTERM
and SIGHUP keep and table every finished result and exit 128 + the signal (130, 143, 129).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_sweep import add_sweep_commands, cmd_merge, cmd_sweep

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("table", "md", "csv", "json")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        self.exit(EXIT_USAGE, f"archlab: error: {message} (see `{self.prog} -h`)\n")


def _measure_options(p: argparse.ArgumentParser, conventions: str = "all") -> None:
    from .profile.count.conventions import TABLE

    p.add_argument("--input", metavar="HxW", help="input size, HxW or CxHxW (default: the model's own)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: torch's)")
    p.add_argument("--convention", action="append", metavar="NAME",
                   help=f"counting convention(s) to compute: {', '.join(TABLE)} (repeat or "
                        f"comma-separate; default {conventions})")
    p.add_argument("--no-latency", action="store_true",
                   help="count only; do not time (in a comparison: no paired timing)")
    p.add_argument("--mode", choices=("eval", "train"), default="eval",
                   help="eval: inference (default); train: a training step, forward and backward "
                        "per module, memory saved for backward")
    p.add_argument("--sgd", action="store_true",
                   help="with --mode train: add an SGD optimizer step to the timed step")
    p.add_argument("--runtime", default="eager", metavar="LIST",
                   help="deploy runtimes to time beside eager PyTorch: any of eager, fused, "
                        "compile, onnxruntime, comma-separated (onnxruntime needs the deploy "
                        "extra; default eager)")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="seconds of timing per model, pair or runtime (default 3; longer while the "
                        "spread exceeds 10%%): less for a quick look, more for a quiet answer")
    p.add_argument("--fresh", action="store_true", help="measure again even if the store holds it")
    p.add_argument("--keep-noisy", action="store_true",
                   help="reuse a stored latency even when it was marked not reliable "
                        "(by default such a latency is measured again)")
    p.add_argument("--replace", action="store_true",
                   help="replace what --out holds when it is another model's report or another "
                        "comparison")
    p.add_argument("--force", action="store_true",
                   help="run even when the memory estimate says it will not fit")
    p.add_argument("--store", metavar="DIR", default=None,
                   help="the store of finished measurements (default reports/store)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="archlab", description="Profile HRNet, Lite-HRNet, Dite-HRNet and their "
                  "design-choice variants per module: params, MACs under several conventions, "
                  "latency and memory.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="registered models and variants")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'dite*'")

    p = sub.add_parser("profile", help="profile one model; print its module table, write reports/NAME/")
    p.add_argument("name", help="a registered model, or NAME@field=value,...")
    _measure_options(p)
    p.add_argument("--depth", type=int, default=2, metavar="D", help="module-tree depth shown (default 2)")
    p.add_argument("--cuda-graph", action="store_true",
                   help="time the whole model as a replayed CUDA graph (needs --device cuda)")
    p.add_argument("--checkpoint", metavar="PATH", help="load these weights first: the authors' "
                   "released checkpoint (mmpose Lite/Dite-HRNet, HRNet repository) or an archlab "
                   "state_dict")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/NAME)")
    p.add_argument("--format", choices=FORMATS, default="table", help="how the table is printed")

    p = sub.add_parser("show", help="print a saved report (folder or report.json) or comparison")
    p.add_argument("path", help="e.g. reports/dite18 or reports/variants/all")
    p.add_argument("--depth", type=int, default=2, metavar="D", help="module-tree depth shown (default 2)")
    p.add_argument("--root", default="", metavar="MODULE", help="show only this module's subtree")
    p.add_argument("--format", choices=FORMATS, default="table", help="how the table is printed")

    p = sub.add_parser("compare", help="compare design-choice variants or any set of models")
    what = p.add_subparsers(dest="what", required=True, parser_class=_Parser)
    v = what.add_parser("variants", help="every registered variant against its base")
    v.add_argument("--base", nargs="+", metavar="NAME", help="only the variants of these models")
    _measure_options(v, conventions="those archlab counts itself, not fvcore or thop")
    v.add_argument("--out", metavar="DIR",
                   help="default reports/variants/all (or reports/variants/BASE+... with --base)")
    m = what.add_parser("models", help="any models, against the first (or --base)")
    m.add_argument("names", nargs="+", metavar="NAME")
    m.add_argument("--base", metavar="NAME",
                   help="the model the others are compared with (default: the first)")
    _measure_options(m, conventions="those archlab counts itself, not fvcore or thop")
    m.add_argument("--out", metavar="DIR", help="default reports/compare/A+B+...")
    add_sweep_commands(sub, _measure_options)  # archlab sweep, archlab merge
    return top


def _err(msg: str) -> None:
    print(f"archlab: {msg}", file=sys.stderr)


def parse_conventions(values) -> list[str] | None:
    """--convention values (repeated or comma-separated), checked against the known names."""
    if not values:
        return None
    from .profile.count.conventions import check_conventions

    return list(check_conventions([c.strip() for v in values for c in v.split(",") if c.strip()]))


def _common(args) -> dict:
    """The study options every measuring command shares, checked before anything runs."""
    from .profile.timing.reliability import usable_cores
    from .study import DEFAULT_ROOT

    if args.threads and args.device == "cpu" and args.threads > usable_cores():
        _err(f"warning: --threads {args.threads} exceeds the {usable_cores()} core(s) this process "
             "may use; the threads will take turns and the latency will be marked not reliable")
    if args.budget is not None and args.budget <= 0:
        raise ValueError(f"--budget must be a positive number of seconds; got {args.budget}")
    return dict(input_size=args.input, batch=args.batch, device=args.device, threads=args.threads,
                budget_s=args.budget,
                conventions=parse_conventions(args.convention), latency=not args.no_latency,
                runtimes=args.runtime, mode=args.mode, sgd=args.sgd, fresh=args.fresh,
                keep_noisy=args.keep_noisy,
                replace=args.replace,
                force=args.force, store=args.store or DEFAULT_ROOT, progress=not args.no_progress,
                log=_err)


# ---------------------------------------------------------------- commands

def cmd_list(args) -> int:
    import pandas as pd

    from .models import get_spec, list_models, spec_params
    from .report.display import render
    from .report.units import si

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r} (archlab list shows all)")
    rows = []
    for n in names:
        s = get_spec(n)
        rows.append({"model": n, "family": s.family, "params": si(spec_params(s)),
                     "base": s.base or "-", "input": "x".join(map(str, s.input_size)),
                     "what it changes": s.change or "reference model"})
    print(render(pd.DataFrame(rows), "table", right=[2]), end="")
    return EXIT_OK


def _ended(outcome) -> int:
    """The exit status of a run: 128 + the signal that cut it short, 1 when something failed."""
    if outcome.interrupted is not None:
        return 128 + outcome.interrupted
    return EXIT_OK if outcome.ok else EXIT_FAILED


def cmd_profile(args) -> int:
    from . import study
    from .report.display import module_table
    from .report.tables import totals_lines

    outcome = study.profile_to(args.name, args.out, depth=args.depth, cuda_graph=args.cuda_graph,
                               checkpoint=args.checkpoint, **_common(args))
    report = outcome.result
    if report is not None and outcome.paths:
        shown = [c for c in (parse_conventions(args.convention) or ()) if c != "archlab"]
        print(module_table(report, args.depth, args.format, conventions=shown), end="")
        if args.format in ("table", "md"):
            print()
            print("\n".join(totals_lines(report)))
    files = f"; wrote {outcome.folder}/: {', '.join(outcome.paths)}" if outcome.paths else ""
    if outcome.interrupted is not None:
        kept = ("the counts kept as an incomplete report" if outcome.tally.partial
                else "nothing had finished")
        _err(f"interrupted: {kept}{files}; run the same command again to complete it")
    else:
        _err(f"{outcome.tally.line()}{files}")
    return _ended(outcome)


def cmd_show(args) -> int:
    from .report.compare import load_comparison
    from .report.display import module_table, render
    from .report.tables import totals_lines
    from .results import load_report

    path = Path(args.path)
    if (path / "comparison.json").exists() or path.name == "comparison.json":
        comp = load_comparison(path)
        if args.format in ("csv", "json"):
            print(render(comp.to_frame(), args.format), end="" if args.format == "csv" else "\n")
        else:
            print(comp.to_markdown(), end="")
        return EXIT_OK
    report = load_report(path)  # checked field by field before anything is printed
    if args.root:
        try:
            report.row(args.root)
        except KeyError:
            raise ValueError(f"no module {args.root!r} in the report of {report.model}") from None
    text = module_table(report, args.depth, args.format, root=args.root)
    if args.format in ("table", "md"):
        text += "\n" + "\n".join(totals_lines(report)) + "\n"
    print(text, end="")
    return EXIT_OK


def cmd_compare(args) -> int:
    from . import study

    names = "variants" if args.what == "variants" else args.names
    bases = args.base if args.what == "variants" else None
    base = args.base if args.what == "models" else None
    outcome = study.compare(names, args.out, base=base, bases=bases, **_common(args))
    comp = outcome.result
    done = outcome.tally.line() + (f"; paired latency: {outcome.pairs.line().replace('measured', 'timed')}"
                                   if outcome.pairs else "")
    if outcome.interrupted is not None:
        _err(f"interrupted: {len(comp.reports)} finished report(s) kept in {outcome.folder} and "
             "tabled; run the same command again to measure only what is missing")
    else:
        if comp.reports:
            print(comp.to_markdown(), end="")
        _err(f"{done}; wrote {outcome.folder}/: {', '.join(outcome.paths)}")
    return _ended(outcome)


COMMANDS = {"list": cmd_list, "profile": cmd_profile, "show": cmd_show, "compare": cmd_compare,
            "sweep": cmd_sweep, "merge": cmd_merge}


def main(argv=None) -> int:
    from .study import signals_as_interrupts

    args = parser().parse_args(argv)
    try:
        with signals_as_interrupts():
            return COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:  # outside a run: nothing was measured yet
        from .study.run import interrupt_signal

        _err("interrupted before anything was measured; nothing to keep")
        return 128 + interrupt_signal(exc)
    except (ValueError, OSError, RuntimeError, MemoryError) as exc:
        # every user mistake lands here (ReportError is a ValueError): one line, no traceback
        from .common import first_line

        _err(first_line(exc, limit=10_000))
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
