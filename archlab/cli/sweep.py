"""archlab sweep: a design space profiled here or on a cluster (the submitit launchers)."""
from __future__ import annotations

import argparse
import sys

from ..common import UsageError
from .common import ended, err, finished_line, measure_arguments, options


def add(sub) -> None:
    p = sub.add_parser("sweep", conflict_handler="resolve",  # --input and --batch take lists here
                       help="every combination of settings of one model: one table, a Pareto plot")
    p.add_argument("base", help="the model the grid derives from (each point is compared with it)")
    p.add_argument("--grid", action="append", metavar="FIELD=V1,V2,...",
                   help="a setting and its values, tuples written 4-4-2-1 (repeat for each field)")
    measure_arguments(p, conventions="those archlab counts itself, not fvcore or thop")
    p.add_argument("--input", metavar="HxW[,HxW...]", help="input sizes (default: the base's own)")
    p.add_argument("--batch", default="1", metavar="N[,N...]", help="batch sizes (default 1)")
    p.add_argument("--out", metavar="DIR", help="default reports/sweep/BASE-DIGEST")
    p.add_argument("--yes", action="store_true",
                   help="start a large grid without asking (asked at a terminal above 100 points)")
    _launcher_options(p)


# submitit.AutoExecutor parameter <- option (SLURM's own names go through --slurm KEY=VALUE)
EXECUTOR = {"slurm_partition": "slurm_partition", "gpus_per_node": "gpus_per_job",
            "cpus_per_task": "cpus_per_job", "mem_gb": "mem_gb", "timeout_min": "timeout_min",
            "slurm_array_parallelism": "slurm_array_parallelism"}


def _launcher_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("launchers (the submitit ones need the cluster extra)")
    g.add_argument("--launcher", choices=("local", "submitit", "submitit-local"), default="local",
                   help="local: in this process (default); submitit: one job per point "
                        "(submitit.AutoExecutor: SLURM where it is found, else processes here); "
                        "submitit-local: submitit's local executor even where SLURM is")
    g.add_argument("--points-per-job", type=int, metavar="N",
                   help="counting-only points per job (default 8; latency jobs hold one)")
    g.add_argument("--jobs-folder", metavar="DIR", help="submitit's logs and pickles (default "
                   "OUT/jobs; on SLURM a folder every node can reach)")
    g.add_argument("--slurm-partition", metavar="NAME")
    g.add_argument("--gpus-per-job", type=int, metavar="N", help="default 1 with --device cuda")
    g.add_argument("--cpus-per-job", type=int, metavar="N", help="default --threads")
    g.add_argument("--mem-gb", type=float, metavar="GB")
    g.add_argument("--timeout-min", type=int, metavar="MIN", help="per job (default 60)")
    g.add_argument("--slurm-array-parallelism", type=int, metavar="N",
                   help="at most this many jobs of the array at once")
    g.add_argument("--slurm", action="append", metavar="KEY=VALUE",
                   help="any other submitit SLURM parameter, e.g. account=proj, qos=high, "
                        "constraint=h100 (repeat)")


def _executor_params(args) -> dict:
    """The submitit parameters the options ask for; one line for a mistake."""
    params = {key: getattr(args, opt) for key, opt in EXECUTOR.items()
              if getattr(args, opt) is not None}
    for key, opt in EXECUTOR.items():
        value = params.get(key)
        if value is not None and key != "slurm_partition" and value < (0 if key == "gpus_per_node" else 1):
            raise UsageError(f"--{opt.replace('_', '-')} must be positive; got {value}")
    for text in args.slurm or ():
        key, eq, value = (t.strip() for t in text.partition("="))
        if not eq or not key or not value:
            raise UsageError(f"--slurm takes KEY=VALUE (e.g. --slurm account=myproject); got {text!r}")
        params[f"slurm_{key}"] = int(value) if value.isdigit() else value
    given = [o for o in ("slurm", "points_per_job", "jobs_folder") if getattr(args, o)] + \
        [EXECUTOR[k] for k in params if k in EXECUTOR]
    if given and args.launcher == "local":
        raise UsageError(f"--{given[0].replace('_', '-')} is for a submitit launcher: add "
                         "--launcher submitit (or submitit-local)")
    return params


def _ask(text: str) -> bool:
    """Asked at a terminal only: a script or CI (no terminal on stdin) goes ahead."""
    if not sys.stdin.isatty():
        return True
    try:
        return input(f"archlab: {text}. Start? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run(args) -> int:
    from .. import study

    measure, policy = options(args)
    outcome = study.sweep(args.base, args.grid or [], args.out, inputs=args.input,
                          batches=args.batch, launcher=args.launcher,
                          executor=_executor_params(args), points_per_job=args.points_per_job or 8,
                          jobs_folder=args.jobs_folder, measure=measure, policy=policy,
                          confirm=None if args.yes else _ask)
    if outcome.interrupted is not None:
        err(f"interrupted: {len(outcome.result.reports)} finished point(s) kept in "
             f"{outcome.folder} and tabled; run the same command again to measure only what is "
             "missing")
    else:
        print((outcome.folder / "sweep.md").read_text(), end="")
        err(f"{finished_line(outcome, 'points: ')}; wrote {outcome.folder}/: "
            f"{', '.join(outcome.paths)}")
    return ended(outcome)
