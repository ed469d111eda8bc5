"""archlab merge: the stores of several machines in one comparison, by device."""
from __future__ import annotations

from .common import EXIT_OK, err


def add(sub) -> None:
    p = sub.add_parser("merge", help="the stores of several machines in one comparison, by device")
    p.add_argument("stores", nargs="+", metavar="DIR", help="a store of finished measurements "
                   "(each machine's --store, default reports/store)")
    p.add_argument("--out", metavar="DIR", required=True, help="the merged comparison's folder")
    p.add_argument("--replace", action="store_true",
                   help="replace what --out holds when it is another comparison")


def run(args) -> int:
    from .. import study
    from ..study.merging import distinct_stores

    outcome = study.merge(args.stores, args.out, replace=args.replace, log=err)
    print((outcome.folder / "merge.md").read_text(), end="")
    stores = distinct_stores(args.stores)  # a store named twice is read once
    err(f"merged {len(outcome.result.reports)} report(s) from {len(stores)} store(s) on "
        f"{len(outcome.devices)} device(s); wrote {outcome.folder}/: {', '.join(outcome.paths)}")
    return EXIT_OK
