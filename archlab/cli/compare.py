"""archlab compare: every design-choice variant against its base, or any set of models."""
from __future__ import annotations

from .common import FORMATS, Parser, ended, err, finished_line, measure_arguments, options

OWN_CONVENTIONS = "those archlab counts itself, not fvcore or thop"


def add(sub) -> None:
    p = sub.add_parser("compare", help="compare design-choice variants or any set of models")
    what = p.add_subparsers(dest="what", required=True, parser_class=Parser)
    v = what.add_parser("variants", help="every registered variant against its base")
    v.add_argument("--base", nargs="+", metavar="NAME", help="only the variants of these models")
    measure_arguments(v, conventions=OWN_CONVENTIONS)
    v.add_argument("--out", metavar="DIR",
                   help="default reports/variants/all (or reports/variants/BASE+... with --base)")
    _format(v)
    m = what.add_parser("models", help="any models, against the first (or --base)")
    m.add_argument("names", nargs="+", metavar="NAME")
    m.add_argument("--base", metavar="NAME",
                   help="the model the others are compared with (default: the first)")
    measure_arguments(m, conventions=OWN_CONVENTIONS)
    m.add_argument("--out", metavar="DIR", help="default reports/compare/A+B+...")
    _format(m)


def _format(p) -> None:
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="how the table is printed: table or md (markdown), csv, json, or latex "
                        "(booktabs, for a paper); the folder holds table.md, table.csv and "
                        "table.tex whichever is chosen")


def run(args) -> int:
    from .. import study

    names = "variants" if args.what == "variants" else args.names
    bases = args.base if args.what == "variants" else None
    base = args.base if args.what == "models" else None
    measure, policy = options(args)
    outcome = study.compare(names, args.out, base=base, bases=bases, input_size=args.input,
                            batch=args.batch, measure=measure, policy=policy)
    comp = outcome.result
    if outcome.interrupted is not None:
        err(f"interrupted: {len(comp.reports)} finished report(s) kept in {outcome.folder} and "
            "tabled; run the same command again to measure only what is missing")
    else:
        if comp.reports:
            print(comparison_text(comp, args.format), end="")
        err(f"{finished_line(outcome)}; wrote {outcome.folder}/: {', '.join(outcome.paths)}")
    return ended(outcome)


def comparison_text(comp, fmt: str) -> str:
    """A comparison as `compare` and `show` print it: markdown (for table and md), csv, json, or
    LaTeX."""
    from ..report.display import render

    if fmt in ("csv", "json"):
        return render(comp.to_frame(), fmt) + ("" if fmt == "csv" else "\n")
    return comp.to_latex() if fmt == "latex" else comp.to_markdown()
