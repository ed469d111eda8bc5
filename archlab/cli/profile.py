"""archlab profile: one model, its module table printed, its report folder written."""
from __future__ import annotations

from .common import FORMATS, ended, err, measure_arguments, options, parse_conventions


def add(sub) -> None:
    p = sub.add_parser("profile", help="profile one model; print its module table, write reports/NAME/")
    p.add_argument("name", help="a registered model, or NAME@field=value,...")
    measure_arguments(p)
    p.add_argument("--depth", type=int, default=2, metavar="D", help="module-tree depth shown (default 2)")
    p.add_argument("--cuda-graph", action="store_true",
                   help="time the whole model as a replayed CUDA graph (needs --device cuda)")
    p.add_argument("--checkpoint", metavar="PATH", help="load these weights first: the authors' "
                   "released checkpoint (mmpose Lite/Dite-HRNet, HRNet repository) or an archlab "
                   "state_dict")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/NAME)")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="how the table is printed (latex: booktabs, for a paper; the folder's "
                        "table.tex holds it at the same depth, with archlab's MACs column only)")


def run(args) -> int:
    from .. import study
    from ..report.display import module_table, runtime_table
    from ..report.tables import totals_lines

    measure, policy = options(args)
    outcome = study.profile_to(args.name, args.out, input_size=args.input, batch=args.batch,
                               depth=args.depth, measure=measure, policy=policy)
    report = outcome.result
    if report is not None and outcome.paths:
        shown = [c for c in (parse_conventions(args.convention) or ()) if c != "archlab"]
        if args.format == "latex":
            print(report.to_latex(args.depth, conventions=shown), end="")
        else:
            print(module_table(report, args.depth, args.format, conventions=shown), end="")
        if args.format in ("table", "md"):
            print()
            print("\n".join(totals_lines(report)))
            print(runtime_table(report, args.format), end="")
    files = f"; wrote {outcome.folder}/: {', '.join(outcome.paths)}" if outcome.paths else ""
    if outcome.interrupted is not None:
        kept = ("the counts kept as an incomplete report" if outcome.tally.partial
                else "nothing had finished")
        err(f"interrupted: {kept}{files}; run the same command again to complete it")
    else:
        err(f"{outcome.tally.line()}{files}")
    return ended(outcome)
