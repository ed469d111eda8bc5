"""archlab list: the registered models and variants."""
from __future__ import annotations

from ..common import UsageError
from .common import EXIT_OK


def add(sub) -> None:
    p = sub.add_parser("list", help="registered models and variants")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'dite*'")


def run(args) -> int:
    import pandas as pd

    from ..models import get_spec, list_models, spec_params
    from ..report.display import render
    from ..report.units import si

    names = list_models(args.pattern)
    if not names:
        raise UsageError(f"no model matches {args.pattern!r} (archlab list shows all)")
    rows = []
    for n in names:
        s = get_spec(n)
        rows.append({"model": n, "family": s.family, "params": si(spec_params(s)),
                     "base": s.base or "-", "input": "x".join(map(str, s.input_size)),
                     "what it changes": s.change or "reference model"})
    print(render(pd.DataFrame(rows), "table", right=[2]), end="")
    return EXIT_OK
