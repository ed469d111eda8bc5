"""What every command shares: exit codes, the one-line error, the measuring options (parsed once
into a Measure and a Policy), and a run's exit status.

A user's mistake (unknown model, bad --input, no GPU, unwritable or busy --out, unreadable report, a
run that would not fit in memory) prints one line and exits 2; a model that fails while being
measured is recorded, the others go on, and the exit status is 1; Ctrl-C, SIGTERM and SIGHUP keep
and table every finished result and exit 128 + the signal (130, 143, 129).
"""
from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("table", "md", "csv", "json", "latex")  # latex: a booktabs table for a paper


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        self.exit(EXIT_USAGE, f"archlab: error: {message} (see `{self.prog} -h`)\n")


def err(msg: str) -> None:
    print(f"archlab: {msg}", file=sys.stderr)


def measure_arguments(p: argparse.ArgumentParser, conventions: str = "all") -> None:
    """The options of every measuring command (profile, compare, sweep)."""
    from ..profile.count.conventions import TABLE

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


def parse_conventions(values) -> list[str] | None:
    """--convention values (repeated or comma-separated), checked against the known names."""
    if not values:
        return None
    from ..profile.count.conventions import check_conventions

    return list(check_conventions([c.strip() for v in values for c in v.split(",") if c.strip()]))


def options(args):
    """The run's Measure and Policy, built once from the arguments (checked before anything runs);
    the one place a flag becomes an option (profile adds --cuda-graph and --checkpoint)."""
    from ..profile.timing.reliability import usable_cores
    from ..study import DEFAULT_ROOT, Measure, Policy

    if args.threads and args.device == "cpu" and args.threads > usable_cores():
        err(f"warning: --threads {args.threads} exceeds the {usable_cores()} core(s) this process "
            "may use; the threads will take turns and the latency will be marked not reliable")
    runtimes = tuple(r for r in args.runtime.split(",")) if args.runtime else ("eager",)
    conventions = parse_conventions(args.convention)
    measure = Measure(conventions=tuple(conventions) if conventions else None,
                      latency=not args.no_latency, runtimes=runtimes, device=args.device,
                      threads=args.threads, budget_s=args.budget, mode=args.mode, sgd=args.sgd,
                      cuda_graph=getattr(args, "cuda_graph", False),
                      checkpoint=getattr(args, "checkpoint", None))
    policy = Policy(fresh=args.fresh, keep_noisy=args.keep_noisy, replace=args.replace,
                    force=args.force, store=args.store or DEFAULT_ROOT,
                    progress=not args.no_progress, log=err)
    return measure, policy


def ended(outcome) -> int:
    """The exit status of a run: 128 + the signal that cut it short, 1 when something failed."""
    if outcome.interrupted is not None:
        return 128 + outcome.interrupted
    return EXIT_OK if outcome.ok else EXIT_FAILED


def finished_line(outcome, noun: str = "") -> str:
    """What a comparison or a sweep did, in one line (its pairs' tally added)."""
    return outcome.tally.line(noun) + (
        f"; paired latency: {outcome.pairs.line().replace('measured', 'timed')}"
        if outcome.pairs else "")
