"""archlab show: a saved report, comparison, sweep or merge, printed."""
from __future__ import annotations

from pathlib import Path

from ..common import UsageError
from .common import EXIT_OK, FORMATS
from .compare import comparison_text


def add(sub) -> None:
    p = sub.add_parser("show", help="print a saved report (folder or report.json) or comparison")
    p.add_argument("path", help="e.g. reports/dite18 or reports/variants/all")
    p.add_argument("--depth", type=int, default=2, metavar="D", help="module-tree depth shown (default 2)")
    p.add_argument("--root", default="", metavar="MODULE", help="show only this module's subtree")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="how the table is printed (latex: booktabs, for a paper)")


def run(args) -> int:
    from ..report.compare import load_comparison
    from ..report.display import module_table, runtime_table
    from ..report.sweep_table import saved_text
    from ..report.tables import totals_lines
    from ..results import load_report

    path = Path(args.path)
    # a sweep or merged folder: its grid / device columns and front are in table.csv and
    # sweep.md / merge.md, not in comparison.json; load the comparison too, so that a damaged
    # folder is refused as one would be
    swept = saved_text(path, args.format) if path.is_dir() and args.format != "latex" else None
    if swept is not None:
        load_comparison(path)
        print(swept, end="" if swept.endswith("\n") else "\n")
        return EXIT_OK
    if (path / "comparison.json").exists() or path.name == "comparison.json":
        print(comparison_text(load_comparison(path), args.format), end="")
        return EXIT_OK
    report = load_report(path)  # checked field by field before anything is printed
    if args.root:
        try:
            report.row(args.root)
        except KeyError:
            raise UsageError(f"no module {args.root!r} in the report of {report.model}") from None
    if args.format == "latex":
        if args.root:
            raise UsageError("--root is not for --format latex, which tables the model from the top")
        print(report.to_latex(args.depth), end="")
        return EXIT_OK
    text = module_table(report, args.depth, args.format, root=args.root)
    if args.format in ("table", "md"):
        text += "\n" + "\n".join(totals_lines(report)) + "\n" + runtime_table(report, args.format)
    print(text, end="")
    return EXIT_OK
