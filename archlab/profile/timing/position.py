"""Identical layers at different positions: how far apart their times are, and why.

Repeated blocks are modules alike in everything but their place: the same name once container
indices are read as `*` (stages.1.body.0 and stages.1.body.1 are stages.1.body.*), the same type,
input and output shapes, parameters and MACs. Eager CPU time need not agree across them, because
a module's cost includes the allocator state it meets (faults.py: fresh pages). `deviations`
measures how far each block is from its group's median; `position_notes` says it in a report,
with the page faults beside it, so a reader does not take position for design.
"""
from __future__ import annotations

import re

import numpy as np

_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)|^\d+(?=\.|$)")


def pattern(name: str) -> str:
    """The name with every container index read as `*` (stages.1.body.0 -> stages.*.body.*)."""
    return _INDEX.sub("*", name)


def subtree(rows, attr: str) -> dict[str, float]:
    """name -> the sum of `attr` over the module and everything under it (None counts 0)."""
    total = {r.name: float(getattr(r, attr) or 0.0) for r in rows}
    for r in reversed(rows):  # children come after parents
        if r.parent is not None and r.parent in total and r.name:
            total[r.parent] += total[r.name]
    return total


def repeated_groups(rows, *, blocks: bool = True) -> dict[tuple, list]:
    """Groups of two or more modules alike in all but position (module doc), keyed by (pattern,
    type, shapes, params, macs); `blocks`: only elements of containers (the name ends in an index)."""
    groups: dict[tuple, list] = {}
    for r in rows:
        if not r.name or (blocks and not r.name.rsplit(".", 1)[-1].isdigit()):
            continue
        key = (pattern(r.name), r.type, repr(r.input_shape), repr(r.output_shape), r.params, r.macs)
        groups.setdefault(key, []).append(r)
    return {k: v for k, v in groups.items() if len(v) > 1}


def deviations(rows, *, attr: str = "latency_ms", blocks: bool = True,
               min_ms: float = 0.0) -> dict | None:
    """How far repeated modules are from their group's median `attr`, in %: p50, p90, max, with
    the worst module, the counts, and (when measured) the page faults of the blocks slower than
    their group's median against the faster ones', per forward. None without such groups."""
    faults = subtree(rows, "page_faults") if any(r.page_faults is not None for r in rows) else None
    devs, slow, fast, used = [], [], [], 0
    for members in repeated_groups(rows, blocks=blocks).values():
        times = [getattr(r, attr) for r in members]
        if any(t is None for t in times):
            continue
        med = float(np.median(times))
        if med <= min_ms:
            continue
        used += 1
        for r, t in zip(members, times):
            devs.append((abs(t / med - 1.0) * 100.0, r.name))
            if faults is not None and t != med:
                (slow if t > med else fast).append(faults[r.name])
    if not devs:
        return None
    pcts = np.array([d for d, _ in devs])
    worst = max(devs)
    out = {"groups": used, "modules": len(devs),
           "p50_pct": float(np.percentile(pcts, 50)), "p90_pct": float(np.percentile(pcts, 90)),
           "max_pct": worst[0], "worst": worst[1]}
    if faults is not None:
        out["faults_slower"] = float(np.mean(slow)) if slow else None
        out["faults_faster"] = float(np.mean(fast)) if fast else None
    return out


def position_notes(rows) -> list[str]:
    """One note on repeated blocks (deviations above), when the report has any with times."""
    d = deviations(rows)
    if d is None:
        return []
    text = (f"position: {d['modules']} repeated blocks ({d['groups']} groups alike in type, shapes, "
            f"params and MACs, at different places) differ from their group's median time by "
            f"p50 {d['p50_pct']:.1f}%, p90 {d['p90_pct']:.1f}%, max {d['max_pct']:.1f}% "
            f"({d['worst']}): position is part of a module's eager cost")
    if d.get("faults_slower") is not None and d.get("faults_faster") is not None:
        text += (f"; blocks slower than their group's median took {d['faults_slower']:.0f} minor "
                 f"page faults per forward on average, faster ones {d['faults_faster']:.0f} "
                 "(page_faults: fresh pages from the allocator, zeroed by the kernel on first "
                 "write; see README, Position)")
    return [text]
