"""Why one model has several "FLOPs": where the conventions disagree, computed from what each saw.

Each convention's count is split by op category (conv, matmul, norm, pool, upsample, softmax,
elementwise, ...). A convention's gap to archlab is the sum of its per-category differences; every
explanation lists each category that differs with both counts and where they come from (the ops,
or module types, each convention counted there), so the parts add up to the gap they explain.
Per module, `reconcile(report)` puts every convention side by side with the same breakdown.
"""
from __future__ import annotations

import math

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


def si(v: float, signed: bool = True) -> str:
    """Three significant digits and an SI prefix, in positional notation (never 1.23e+03)."""
    sign, a = "+" if signed else "", abs(v)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale:
            x = v / scale
            return f"{x:{sign}.{max(0, 2 - int(math.log10(abs(x))))}f} {unit}"
    return f"{v:{sign}.0f}"


def _top(sources: dict, n: int = 3) -> str:
    items = sorted(sources.items(), key=lambda kv: -abs(kv[1]))
    text = ", ".join(f"{k} {si(v, False)}" for k, v in items[:n] if v)
    return text + (", ..." if len(items) > n else "") if text else "nothing"


def gap_parts(by_conv: dict[str, dict[str, int]], conv: str) -> list[tuple[str, int, int]]:
    """(category, convention's count, archlab's) for every category where they differ; the
    differences sum to the convention's total minus archlab's."""
    ref, mine = by_conv.get(REF, {}), by_conv.get(conv, {})
    return [(cat, mine.get(cat, 0), ref.get(cat, 0)) for cat in sorted(set(ref) | set(mine))
            if mine.get(cat, 0) != ref.get(cat, 0)]


def gaps(by_conv: dict, sources: dict | None = None) -> dict[str, dict]:
    """Per convention that differs from archlab: its whole gap and the parts it is made of, one per
    category that differs, with both counts and what each convention counted there (`sources`:
    {convention: {category: {op or module type: count}}}). The parts sum to the gap."""
    sources = sources or {}
    out = {}
    for conv in by_conv:
        parts = gap_parts(by_conv, conv) if conv != REF else []
        if parts:
            out[conv] = {"gap": sum(m - r for _, m, r in parts), "parts": [
                {"category": cat, "count": mine, "archlab": ref,
                 "counted": _top(sources.get(conv, {}).get(cat, {})),
                 "archlab_counted": _top(sources.get(REF, {}).get(cat, {}))}
                for cat, mine, ref in parts]}
    return out


def gap_text(gap: dict) -> str:
    """One line: 'GAP in all = CAT +D (mine vs archlab's; counts ..., archlab ...), ...'."""
    parts = [f"{p['category']} {si(p['count'] - p['archlab'])} ({si(p['count'], False)} vs "
             f"{si(p['archlab'], False)}; counts {p['counted']}, archlab {p['archlab_counted']})"
             if "counted" in p else
             f"{p['category']} {si(p['count'] - p['archlab'])} ({si(p['count'], False)} vs "
             f"{si(p['archlab'], False)})" for p in gap["parts"]]
    return f"{si(gap['gap'])} in all = " + ", ".join(parts)


def explain(by_conv: dict[str, dict[str, int]]) -> str:
    """Every convention's gap to archlab in one line, from counts by category (a module's)."""
    return "; ".join(f"{c}: " + gap_text({"gap": sum(m - r for _, m, r in parts), "parts": [
        {"category": cat, "count": m, "archlab": r} for cat, m, r in parts]})
        for c in by_conv if c != REF and (parts := gap_parts(by_conv, c)))


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


def reconcile(report, *, max_depth: int | None = None, only_disagreeing: bool = True):
    """A pandas table, one row per module: every convention's count side by side, the ratio of
    the largest to the smallest, and `why` (per convention, the categories it counts differently,
    with both counts)."""
    import pandas as pd

    inc = inclusive_categories(report.coverage.get("by_module", {}))
    conventions = list(report.conventions)
    records = []
    for r in report.rows:
        if max_depth is not None and r.depth > max_depth:
            continue
        values = {c: r.count(c) for c in conventions}
        present = [v for v in values.values() if v]
        if only_disagreeing and len(set(values.values())) <= 1:
            continue
        why = explain(inc[r.name]) if r.name in inc else ""
        records.append({"module": r.name, "type": r.type, "depth": r.depth, **values,
                        "max/min": (max(present) / min(present)) if present else None,
                        "why": why})
    return pd.DataFrame.from_records(records, columns=["module", "type", "depth", *conventions,
                                                       "max/min", "why"])
