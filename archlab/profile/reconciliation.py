"""Why one model has several "FLOPs": per module, where the conventions disagree and which ops
each one counts.

The profile stores, per module, the exclusive count of every convention split by op category
(conv, matmul, norm, pool, upsample, softmax, elementwise, ...), only for modules whose own ops the
conventions count differently. `reconcile(report)` sums them up the module tree and explains every
difference from archlab's MACs with the rule behind it (conventions.WHY).
"""
from __future__ import annotations

from .conventions import WHY

REF = "archlab"


def pack(names: list[str], categories: dict[str, dict]) -> dict:
    """{convention: {(index, category): count}} -> {module: {convention: {category: count}}},
    keeping only modules whose own counts differ between conventions."""
    per: dict[int, dict[str, dict[str, int]]] = {}
    for conv, cats in categories.items():
        for (i, cat), v in cats.items():
            if v:
                d = per.setdefault(i, {}).setdefault(conv, {})
                d[cat] = d.get(cat, 0) + int(v)
    out = {}
    for i, by_conv in sorted(per.items()):
        shapes = [by_conv.get(c, {}) for c in categories]
        if any(s != shapes[0] for s in shapes):
            out[names[i]] = {c: by_conv.get(c, {}) for c in categories}
    return out


def _si(v: float) -> str:
    a = abs(v)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale:
            return f"{v / scale:+.3g}{unit}"
    return f"{v:+.0f}"


def inclusive_categories(by_module: dict) -> dict[str, dict[str, dict[str, int]]]:
    """Exclusive {module: {convention: {category: n}}} -> inclusive, for every ancestor too."""
    inc: dict[str, dict[str, dict[str, int]]] = {}
    for name, by_conv in by_module.items():
        parts = name.split(".") if name else []
        for k in range(len(parts) + 1):
            anc = ".".join(parts[:k])
            dst = inc.setdefault(anc, {})
            for conv, cats in by_conv.items():
                d = dst.setdefault(conv, {})
                for cat, v in cats.items():
                    d[cat] = d.get(cat, 0) + v
    return inc


def explain(by_conv: dict[str, dict[str, int]], tolerance: float = 0.0) -> str:
    """One line: per convention, the categories where it differs from archlab and why."""
    ref = by_conv.get(REF, {})
    scale = max(1, sum(abs(v) for v in ref.values()))
    parts = []
    for conv, cats in by_conv.items():
        if conv == REF:
            continue
        phrases = []
        for cat in sorted(set(ref) | set(cats)):
            d = cats.get(cat, 0) - ref.get(cat, 0)
            if d and abs(d) > tolerance * scale:
                why = WHY.get((conv, cat, 1 if d > 0 else -1))
                phrases.append(f"{cat} {_si(d)}" + (f" ({why})" if why else ""))
        if phrases:
            parts.append(f"{conv}: " + ", ".join(phrases))
    return "; ".join(parts)


def reconcile(report, *, max_depth: int | None = None, only_disagreeing: bool = True,
              tolerance: float = 0.0):
    """A pandas table, one row per module: every convention's count side by side, the ratio of
    the largest to the smallest, and `why` (the categories each convention counts differently)."""
    import pandas as pd

    by_module = report.coverage.get("by_module", {})
    inc = inclusive_categories(by_module)
    conventions = [c for c in report.env.get("conventions", []) if c in report.totals]
    records = []
    for r in report.rows:
        if max_depth is not None and r.depth > max_depth:
            continue
        values = {c: r.counts.get(c) for c in conventions}
        present = [v for v in values.values() if v]
        disagree = len(set(values.values())) > 1
        if only_disagreeing and not disagree:
            continue
        why = explain(inc.get(r.name, {}), tolerance) if r.name in inc else ""
        records.append({"module": r.name, "type": r.type, "depth": r.depth, **values,
                        "max/min": (max(present) / min(present)) if present else None,
                        "why": why})
    return pd.DataFrame.from_records(records, columns=["module", "type", "depth", *conventions,
                                                       "max/min", "why"])
