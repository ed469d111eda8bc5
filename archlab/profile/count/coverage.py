"""Every convention's counts in one shape, the op ledger, and the notes that explain the counts.

A Counts is one convention's view of a forward pass: per module (inclusive), the total, exclusive
counts per (module, op category), and where each category's count comes from — the operators (for
conventions computed at the dispatch level or by fvcore) or the module types (for module-hook
conventions) — so every difference between two conventions is explained from what was actually
seen, category by category, adding up to the whole gap.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import reconcile as reconciliation
from .conventions import TABLE
from .module_rules import module_category
from .ops import COUNTED, FREE


@dataclass
class Counts:
    per_module: list  # inclusive count per module (table order); None where not available
    total: int
    categories: dict = field(default_factory=dict)  # (module index, category) -> exclusive count
    sources: dict = field(default_factory=dict)  # (category, op or module type) -> count
    skipped: dict = field(default_factory=dict)  # what the rule saw and counted 0 -> calls


def from_recorder(rec, table) -> dict[str, Counts]:
    """The recorder's conventions: every dispatch convention it ran, and paper-hook."""
    n = len(table)

    def inclusive(exclusive):
        total = table.inclusive(exclusive)
        total[0] += exclusive[n]  # ops run outside every module's forward belong to the model
        return total

    def root(d):  # the "outside every module" slot is the model's own
        return {((0 if i == n else i), cat): v for (i, cat), v in d.items()}

    out = {}
    for c, exclusive in rec.counts.items():
        inc = inclusive(exclusive)
        out[c] = Counts(inc, inc[0], root(rec.categories[c]), dict(rec.sources[c]))
    hook = inclusive(rec.paper_hook)
    cats, sources = {}, {}
    for i, v in enumerate(rec.paper_hook[:n]):
        if v:
            cat = module_category(table.modules[i])
            cats[(i, cat)] = v
            sources[(cat, table.types[i])] = sources.get((cat, table.types[i]), 0) + v
    out["paper-hook"] = Counts(hook, hook[0], cats, sources)
    return out


def backward_ledger(rec, table) -> dict:
    """The backward pass's own ledger (coverage["backward"]), shaped like the forward's: every
    operator the backward ran in one bucket, and each dispatch convention's counts by category.
    Module-hook conventions (paper-hook) see no backward: no module's forward hook runs there."""
    counts = {c: cnt for c, cnt in from_recorder(rec, table).items() if c != "paper-hook"}
    return ledger(rec, table, counts)


def ledger(rec, table, counts: dict[str, Counts]) -> dict:
    """The coverage section of a report: every executed op in one bucket (counted, free,
    uncounted with its traffic share), and each convention's counts by category, by source and per
    module where they differ."""
    total = sum(rec.op_traffic.values()) or 1
    kinds = {k: (e.kind if k not in rec.formula_errors else -1) for k, e in rec.entries.items()}
    counted = {k: c for k, c in sorted(rec.op_calls.items()) if kinds[k] == COUNTED}
    free = {k: c for k, c in sorted(rec.op_calls.items()) if kinds[k] == FREE}
    unc = {k: {"calls": c, "traffic_share": rec.op_traffic.get(k, 0) / total}
           for k, c in sorted(rec.op_calls.items()) if kinds[k] not in (COUNTED, FREE)}
    for k, err in rec.formula_errors.items():
        unc[k]["error"] = err
    categories, sources = {}, {}
    for c, cnt in counts.items():
        w = categories.setdefault(c, {})
        for (_, cat), v in cnt.categories.items():
            w[cat] = w.get(cat, 0) + int(v)
        s = sources.setdefault(c, {})
        for (cat, src), v in cnt.sources.items():
            s.setdefault(cat, {})[src] = s.get(cat, {}).get(src, 0) + int(v)
    return {"counted": counted, "free": free, "uncounted": unc,
            "uncounted_traffic_share": sum(u["traffic_share"] for u in unc.values()),
            "traffic_bytes": total, "categories": categories,
            "gaps": reconciliation.gaps(categories, sources),
            "by_module": reconciliation.pack(table.names, {c: k.categories for c, k in counts.items()}),
            "skipped": {c: dict(k.skipped) for c, k in counts.items() if k.skipped}}


def uncounted_notes(coverage, where: str = "") -> list[str]:
    """One note per uncounted operator of a ledger; `where`: " in the backward" for its own."""
    notes, of = [], "the backward pass's tensor traffic" if where else "tensor traffic"
    for op, u in coverage["uncounted"].items():
        why = (f"its formula failed ({u['error']})" if "error" in u else "has no formula") + \
            "; add one with archlab.profile.register_formula"
        notes.append(f"uncounted{where}: {op} ({u['calls']} calls, {100 * u['traffic_share']:.2f}% "
                     f"of {of}) {why}")
    return notes


def count_notes(rec, table, coverage, complete: bool) -> list[str]:
    """Notes on what was not counted and why the conventions differ, from the ops seen."""
    notes = uncounted_notes(coverage)
    if "backward" in coverage:
        notes += uncounted_notes(coverage["backward"], " in the backward")
    for i, err in rec.rule_errors.items():
        notes.append(f"paper-hook: could not read module {table.names[i]!r} ({err}); counted 0")
    seen = {**coverage["counted"], **coverage["free"]}
    for c, skipped in coverage.get("skipped", {}).items():
        what = "leaf modules without a rule" if TABLE[c].computed_by == "thop" else \
            "traced ops without a handle"
        items = []
        for k, v in sorted(skipped.items()):
            here = seen.get("aten." + k.split("::")[-1]) if "::" in k else None
            items.append(f"{k} x{v}" + (f" (dispatch-level calls: {here})" if here is not None else ""))
        notes.append(f"{c} counted 0 for {what}: " + ", ".join(items))
    if complete:
        notes += [f"{c} vs archlab: {reconciliation.gap_text(g)}"
                  for c, g in coverage["gaps"].items()]
    return notes
