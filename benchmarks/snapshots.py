"""Regenerate the zoo's `snapshot_counts`: archlab's own counts of every reference model under its
conventions (archlab, paper-hook, paper-conv), batch 1, eval, at the model's input size.

They are snapshots, not goldens: archlab produced them, so they only catch a change nobody meant
(tests/test_models.py compares them). When a formula or a block changes on purpose, run this,
check the differences it prints against what the change should do, and paste the lines it prints
into archlab/models/zoo.py (sknet50: archlab/models/resnet.py).

    python benchmarks/snapshots.py [--models hrnet_w32,lite18] [--check]

--check exits 1 when a count differs from the zoo's, printing only the differences.
"""
from __future__ import annotations

import argparse

from archlab.models import build, get_spec, list_models
from archlab.profile import profile_module

CONVENTIONS = ("archlab", "paper-hook", "paper-conv")


def counts(name: str) -> dict[str, int]:
    spec = get_spec(name)
    rep = profile_module(build(name), tuple(spec.input_size), latency=False, memory=False,
                         conventions=CONVENTIONS)
    return {c: rep.count(c) for c in CONVENTIONS}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None,
                    help="comma-separated; default: every reference model")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args(argv)
    names = args.models.split(",") if args.models else \
        [n for n in list_models() if not get_spec(n).base]
    differ = False
    for name in names:
        now, recorded = counts(name), dict(get_spec(name).snapshot_counts)
        changed = {c: (recorded.get(c), v) for c, v in now.items() if recorded.get(c) != v}
        differ |= bool(changed)
        for c, (old, new) in changed.items():
            print(f"{name} {c}: {old if old is None else f'{old:_}'} -> {new:_}")
        if not args.check:
            values = ", ".join(f"{now[c]:_}" for c in CONVENTIONS)
            print(f"{name}: snapshot_counts=_snapshot({values}),")
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
