"""Per-module paired deltas: which module made a variant slower than its base?

The variant and its base run their forwards with every operator timed (operators.clocked), as
contenders of the same rotated-order harness run as their plain forwards (paired.py), so round i
of one can be divided by round i of the other, module by module: load that comes and goes weighs
on both sides of each ratio alike, as it does for the whole-model ratio. Modules are matched by
name (a variant derived from its base keeps the names of what it did not change); a module's time
is inclusive (its own operators and its submodules'), so a block whose insides differ (a DCM
replaced by a CRW) is still compared as a whole. Times are the clock's windows as measured (no
calibration: a ratio of two clocked calls carries the clock's cost on both sides).

Groups read repeated blocks as one: every container index but the first becomes `*`
(stages.1.body.0.context and stages.1.body.1.context are stages.1.body.*.context), summed per
round. The groups that explain the change are those carrying at least EXPLAINS of the whole
model's change whose own subgroups do not carry most of it, and of those the most specific (a
group with such a subgroup defers to it): where the change happens.
"""
from __future__ import annotations

import re

import numpy as np

from ..core.hooks import ModuleTable
from .harness import Contender
from .operators import clocked, clocks_for, under_clock

EXPLAINS = 0.10  # a group shown as explaining the change carries at least this share of it
MOST = 0.8  # ... and none of its subgroups carries this share of its own change
_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)")


def clocked_forward(fn, table: ModuleTable, device) -> tuple[Contender, list]:
    """An operator-timed contender running `fn` (operators.clocked), and the list its rounds fill:
    per round, the exclusive seconds per call of every module (the last slot: outside every
    module)."""
    contender, per_pass, _ = clocked(under_clock(fn), clocks_for(("forward",), table, device))
    return contender, per_pass["forward"]


def inclusive_ms(passes, table: ModuleTable) -> tuple[np.ndarray, np.ndarray]:
    """(own, inclusive): (rounds, modules) ms from per-round exclusive seconds (the model's row
    takes the operators run outside every module)."""
    n = len(table)
    a = np.asarray(passes, dtype=float) * 1e3
    inc = a[:, :n].copy()
    inc[:, 0] += a[:, n]
    own = inc.copy()
    for i in range(n - 1, 0, -1):  # children come after parents
        if table.parents[i] >= 0:
            inc[:, table.parents[i]] += inc[:, i]
    return own, inc


def group_of(name: str) -> str:
    """stages.1.body.0.context -> stages.1.body.*.context: every index but the first starred."""
    first = re.search(r"(^|\.)\d+(?=\.|$)", name)
    if first is None:
        return name
    head, tail = name[:first.end()], name[first.end():]
    return head + _INDEX.sub("*", tail)


def _summary(v: np.ndarray, b: np.ndarray) -> dict:
    ok = b > 0
    r = v[ok] / b[ok] if ok.any() else np.array([np.nan])
    p10, p50, p90 = np.percentile(r, [10, 50, 90])
    return {"base_ms": float(np.median(b)), "variant_ms": float(np.median(v)),
            "delta_ms": float(np.median(v) - np.median(b)), "ratio": float(p50),
            "ratio_p10": float(p10), "ratio_p90": float(p90)}


def _rounded(d: dict) -> dict:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in d.items()}


def module_deltas(variant_passes, base_passes, variant: ModuleTable, base: ModuleTable) -> dict:
    """{"modules": one entry per module both have by name (module, base_self_ms, variant_self_ms,
    base_ms, variant_ms (inclusive), delta_ms, ratio with ratio_p10 / _p90 of the per-round
    inclusive ratios), "groups": the same per group (module doc), with `explains`, "explaining":
    the groups that explain the change, largest first, "only_variant" / "only_base": the
    top-most modules only one side has, "rounds"}."""
    rounds = min(len(variant_passes), len(base_passes))
    v_own, v_inc = inclusive_ms(variant_passes[:rounds], variant)
    b_own, b_inc = inclusive_ms(base_passes[:rounds], base)
    vi = {n: i for i, n in enumerate(variant.names)}
    bi = {n: i for i, n in enumerate(base.names)}
    shared = [n for n in variant.names if n in bi]
    modules, sums = [], {}
    for name in shared:
        i, j = vi[name], bi[name]
        if not (v_inc[:, i].any() or b_inc[:, j].any()):
            continue  # ran no operator on either side
        entry = {"module": name, "base_self_ms": float(np.median(b_own[:, j])),
                 "variant_self_ms": float(np.median(v_own[:, i])), **_summary(v_inc[:, i], b_inc[:, j])}
        modules.append(_rounded(entry))
        if name:
            g = sums.setdefault(group_of(name), [0.0, 0.0, 0])
            g[0], g[1], g[2] = g[0] + v_inc[:, i], g[1] + b_inc[:, j], g[2] + 1
    whole = abs(modules[0]["delta_ms"]) if modules and modules[0]["module"] == "" else 0.0
    groups = {g: {"group": g, "members": k, **_summary(v, b)} for g, (v, b, k) in sums.items()}
    for g, d in groups.items():
        kids = [c for c, e in groups.items() if c.rsplit(".", 1)[0] == g and c != g]
        top_kid = max((abs(groups[c]["delta_ms"]) for c in kids), default=0.0)
        d["explains"] = bool(whole > 0 and abs(d["delta_ms"]) >= EXPLAINS * whole
                             and top_kid < MOST * abs(d["delta_ms"]))
    flagged = [g for g, d in groups.items() if d["explains"]]
    for g in flagged:  # the most specific place: a group with a flagged subgroup defers to it
        groups[g]["explains"] = not any(c.startswith(g + ".") for c in flagged)
    explaining = sorted((g for g, d in groups.items() if d["explains"]),
                        key=lambda g: -abs(groups[g]["delta_ms"]))

    def tops(names, other):  # an unshared module whose parent is shared: the subtree's root
        return [n for n in names if n not in other and (n.rsplit(".", 1)[0] if "." in n else "")
                in other]
    return {"modules": modules, "groups": [_rounded(d) for d in groups.values()],
            "explaining": explaining, "only_variant": tops(variant.names, bi),
            "only_base": tops(base.names, vi), "rounds": rounds}
