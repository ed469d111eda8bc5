"""The `archlab` command: list models, profile one, compare several.

Thin on purpose: it parses arguments, calls archlab.models / archlab.profile / archlab.report, and
prints. A user's mistake (unknown model, bad --input, no GPU, unwritable --out, unreadable report)
prints one line and exits 2; a model that fails while being measured is recorded, the others go
on, and the exit status is 1; Ctrl-C keeps every finished report and exits 130.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FORMATS = ("table", "md", "csv", "json")
COMPARE_CONVENTIONS = ["archlab", "paper-hook", "paper-conv"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        self.exit(EXIT_USAGE, f"archlab: error: {message} (see `{self.prog} -h`)\n")


def _measure_options(p: argparse.ArgumentParser, conventions: str = "all") -> None:
    p.add_argument("--input", metavar="HxW", help="input size, HxW or CxHxW (default: the model's own)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: torch's)")
    p.add_argument("--convention", action="append", metavar="NAME",
                   help="counting convention(s) to compute: archlab, fvcore, thop, paper-hook, "
                        f"paper-conv (repeat or comma-separate; default {conventions})")
    p.add_argument("--no-latency", action="store_true", help="count only; do not time (in a comparison: no paired timing)")
    p.add_argument("--fresh", action="store_true", help="measure again even if a matching report exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


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
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/NAME)")
    p.add_argument("--format", choices=FORMATS, default="table", help="how the table is printed")
    p.add_argument("--checkpoint", metavar="PATH", help="load these weights first: the authors' released "
                   "checkpoint (mmpose Lite/Dite-HRNet, HRNet repository) or an archlab state_dict")

    p = sub.add_parser("show", help="print a saved report (folder or report.json) or comparison")
    p.add_argument("path", help="e.g. reports/dite18 or reports/variants")
    p.add_argument("--depth", type=int, default=2, metavar="D", help="module-tree depth shown (default 2)")
    p.add_argument("--root", default="", metavar="MODULE", help="show only this module's subtree")
    p.add_argument("--format", choices=FORMATS, default="table", help="how the table is printed")

    p = sub.add_parser("compare", help="compare design-choice variants or any set of models")
    what = p.add_subparsers(dest="what", required=True, parser_class=_Parser)
    v = what.add_parser("variants", help="every registered variant against its base")
    v.add_argument("--base", nargs="+", metavar="NAME", help="only the variants of these models")
    _measure_options(v, conventions=", ".join(COMPARE_CONVENTIONS))
    v.add_argument("--out", metavar="DIR", default="reports/variants", help="default reports/variants")
    m = what.add_parser("models", help="any models, against the first (or --base)")
    m.add_argument("names", nargs="+", metavar="NAME")
    m.add_argument("--base", metavar="NAME",
                   help="the model the others are compared with (default: the first)")
    _measure_options(m, conventions=", ".join(COMPARE_CONVENTIONS))
    m.add_argument("--out", metavar="DIR", default="reports/compare", help="default reports/compare")
    return top


# ---------------------------------------------------------------- helpers (parsing only)

def parse_input(text: str | None, default) -> tuple[int, int, int]:
    if not text:
        return tuple(default)
    parts = re.split(r"[x×,]", text.strip().lower())
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (2, 3) or any(n <= 0 for n in nums):
        raise ValueError(f"--input must be HxW or CxHxW with positive integers, e.g. 256x192; got {text!r}")
    return tuple(nums) if len(nums) == 3 else (default[0], *nums)


def parse_conventions(values) -> list[str] | None:
    if not values:
        return None
    from .profile.conventions import CONVENTIONS as known

    names = [c.strip() for v in values for c in v.split(",") if c.strip()]
    for c in names:
        if c not in known:
            import difflib

            close = difflib.get_close_matches(c, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown convention {c!r}{hint} (choose from {', '.join(known)})")
    return list(dict.fromkeys(names))


def _file_key(path: str) -> dict:
    """A file as it is now, for the key of a measurement that read it."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no checkpoint file {path}")
    st = p.stat()
    return {"path": str(p.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _err(msg: str) -> None:
    print(f"archlab: {msg}", file=sys.stderr)


# ---------------------------------------------------------------- commands

def cmd_list(args) -> int:
    import pandas as pd

    from .models import build, get_spec, list_models
    from .report.tables import render
    from .report.units import si

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r} (archlab list shows all)")
    rows = []
    for n in names:
        s = get_spec(n)
        params = s.golden_params or sum(p.numel() for p in build(n).parameters())
        rows.append({"model": n, "family": s.family, "params": si(params), "base": s.base or "-",
                     "input": "x".join(map(str, s.input_size)),
                     "what it changes": s.change or "reference model"})
    print(render(pd.DataFrame(rows), "table", right=[2]), end="")
    return EXIT_OK


def _jobs(names, args, default_folder):
    """Resolve names to specs, inputs and cache keys before anything is measured (fail fast)."""
    import torch

    from .models import get_spec
    from .report.cache import request_key
    from .report.runner import Job

    jobs, shapes = [], {}
    threads = args.threads or torch.get_num_threads()
    for name in names:
        spec = get_spec(name)
        shape = parse_input(args.input, spec.input_size)
        shapes[spec.name] = shape
        key = request_key(spec.to_dict(), shape, args.batch, args.device, threads)
        jobs.append(Job(spec.name, key, default_folder(spec.name)))
    return jobs, shapes


def _run(jobs, shapes, args, reraise=(), conventions=None, **options):
    from . import api
    from .report.runner import run_jobs

    conventions = parse_conventions(args.convention) or conventions
    extra = {"conventions": conventions, **options} if conventions else options

    def measure(name, on_stage):
        return api.profile(name, shapes[name], batch=args.batch, device=args.device,
                           latency=not args.no_latency, threads=args.threads, progress=on_stage, **extra)

    return run_jobs(jobs, measure, fresh=args.fresh, latency=not args.no_latency,
                    conventions=conventions, progress=not args.no_progress,
                    log=lambda m: _err(m), reraise=reraise)


def _pair(comp, jobs, shapes, args, out):
    """Time each model of the comparison side by side with its base (see report/pairing.py)."""
    from . import api
    from .profile.paired import PAIR_BUDGET_S, PAIR_ROUNDS, PAIR_WARMUP
    from .report.pairing import plan_pairs, run_pairs

    settings = {"warmup": PAIR_WARMUP, "rounds": PAIR_ROUNDS, "budget_s": PAIR_BUDGET_S}
    pairs, skipped = plan_pairs(comp, {j.name: j.key for j in jobs}, out, settings)

    def time_pair(name, base):
        return api.paired(name, base, shapes[name], batch=args.batch, device=args.device,
                          threads=args.threads)

    run = run_pairs(pairs, time_pair, fresh=args.fresh, progress=not args.no_progress,
                    log=lambda m: _err(m))
    run.paired.update(skipped)
    return run


def _check_common(args):
    from .report.runner import check_device

    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1; got {args.batch}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1; got {args.threads}")
    parse_conventions(args.convention)
    check_device(args.device)


def cmd_profile(args) -> int:
    from .report.files import writable_dir, write_report
    from .report.runner import measured_nothing, safe_name
    from .report.tables import module_table, totals_lines

    _check_common(args)
    if args.depth < 0:
        raise ValueError(f"--depth must be 0 or more; got {args.depth}")
    jobs, shapes = _jobs([args.name], args, lambda n: Path(args.out or Path("reports") / safe_name(n)))
    weights = {}
    if args.checkpoint:  # measured with these weights: a saved report of other weights is no answer
        jobs[0].key["checkpoint"] = _file_key(args.checkpoint)
        weights["checkpoint"] = args.checkpoint
    name, folder = jobs[0].name, writable_dir(jobs[0].folder)
    # reraised: e.g. an input the model cannot take, a checkpoint that is corrupt or does not fit
    result = _run(jobs, shapes, args, reraise=(ValueError,), **weights)
    if result.interrupted:
        _err("interrupted; nothing finished to keep")
        return EXIT_INTERRUPTED
    if name not in result.reports:  # the run already said why, in one line
        return EXIT_FAILED
    report = result.reports[name]
    if measured_nothing(report):  # e.g. an input the model cannot take; the run said why
        return EXIT_FAILED
    paths = write_report(report, folder, depth=args.depth)
    shown = parse_conventions(args.convention) or ()
    extra = [c for c in shown if c != "archlab"]
    print(module_table(report, args.depth, args.format, conventions=extra), end="")
    if args.format in ("table", "md"):
        print()
        print("\n".join(totals_lines(report)))
    _err(f"{result.line()}; wrote {folder}/: {', '.join(paths)}")
    return EXIT_FAILED if name in result.failures else EXIT_OK


def cmd_show(args) -> int:
    from .report.compare import load_comparison
    from .report.result import load_report
    from .report.tables import module_table, render, totals_lines

    path = Path(args.path)
    if (path / "comparison.json").exists() or path.name == "comparison.json":
        comp = load_comparison(path)
        if args.format in ("csv", "json"):
            print(render(comp.to_frame(), args.format), end="" if args.format == "csv" else "\n")
        else:
            print(comp.to_markdown(), end="")
        return EXIT_OK
    report = load_report(path)
    if args.root:
        try:
            report.row(args.root)
        except KeyError:
            raise ValueError(f"no module {args.root!r} in the report of {report.model}") from None
    print(module_table(report, args.depth, args.format, root=args.root), end="")
    if args.format in ("table", "md"):
        print()
        print("\n".join(totals_lines(report)))
    return EXIT_OK


def cmd_compare(args) -> int:
    from .models import get_spec, list_variants
    from .report.compare import Comparison
    from .report.files import writable_dir, write_comparison
    from .report.runner import safe_name

    _check_common(args)
    if args.what == "variants":
        names = list_variants(args.base)
        base = None  # each variant against its own base
    else:
        names = list(dict.fromkeys(get_spec(n).name for n in args.names))
        base = get_spec(args.base).name if args.base else names[0]
        if base not in names:
            names.insert(0, base)
    out = writable_dir(args.out)
    jobs, shapes = _jobs(names, args, lambda n: out / "models" / safe_name(n))
    # the table needs whole-model numbers under the archlab and paper rules: skip the slow fvcore
    # and thop traces and the per-module timing pass unless asked (`archlab profile` does them all)
    result = _run(jobs, shapes, args, conventions=COMPARE_CONVENTIONS, per_module=False)
    comp = Comparison(list(result.reports.values()), base=base,
                      failures={n: e for n, e in result.failures.items() if n not in result.reports})
    pairing = None
    # medians timed minutes apart mislead on a busy machine: time each model beside its base
    if not args.no_latency and not result.interrupted:
        pairing = _pair(comp, jobs, shapes, args, out)
        comp.paired = pairing.paired
    paths = write_comparison(comp, out, {n: f / "report.json" for n, f in result.folders.items()})
    if result.interrupted or (pairing and pairing.interrupted):
        pairs = f" and {len(pairing.timed) + len(pairing.reused)} paired timing(s)" if pairing else ""
        _err(f"interrupted: {len(result.reports)} finished report(s){pairs} kept in {out} and "
             "tabled; run the same command again to measure only what is missing")
        return EXIT_INTERRUPTED
    if result.reports:
        print(comp.to_markdown(), end="")
    done = result.line() + (f"; {pairing.line()}" if pairing else "")
    _err(f"{done}; wrote {out}/: {', '.join(paths)}")
    return EXIT_OK if result.ok and (pairing is None or pairing.ok) else EXIT_FAILED


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list(args)
        if args.command == "profile":
            return cmd_profile(args)
        if args.command == "show":
            return cmd_show(args)
        return cmd_compare(args)
    except KeyboardInterrupt:
        _err("interrupted; finished reports are kept on disk (rerun to resume)")
        return EXIT_INTERRUPTED
    except (ValueError, OSError, RuntimeError) as exc:
        # every user mistake lands here (ReportError is a ValueError): one line, no traceback
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _err(msg)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
