"""When are per-module times stable enough to stop? The stopping rule of the operator-timed passes,
and each module's spread over them.

A module's self time is the median over passes of its own operators' time. The standard error of
a median is estimated from the samples' spread (normal approximation: 1.2533 sigma / sqrt(n), with
sigma = IQR / 1.349, robust to the odd slow pass). The rule: stop when the modules' standard
errors summed are at most MAX_SE_SHARE of their medians summed (a mean relative error of 2%,
weighted by time, so the modules that carry the time decide), and never before MIN_OP_PASSES
passes (within the budget's max_s): five passes, the old fixed count, left a conv reading 3.9 ms
in one profile and 5.4 ms in the next.
"""
from __future__ import annotations

import numpy as np

MAX_SE_SHARE = 0.02
MIN_OP_PASSES = 30  # reached within the default budget by models under ~50 ms


def se_share(per_pass) -> float | None:
    """Sum of the per-module medians' standard errors over the sum of the medians; `per_pass` is
    (passes, modules) of times (any unit). None with fewer than 4 passes or no time at all."""
    a = np.asarray(per_pass, dtype=float)
    if a.ndim != 2 or a.shape[0] < 4:
        return None
    q25, q50, q75 = np.percentile(a, [25, 50, 75], axis=0)
    total = float(q50.sum())
    if total <= 0:
        return None
    se = 1.2533 * (q75 - q25) / 1.349 / np.sqrt(a.shape[0])
    return float(se.sum()) / total


def stable(per_pass, *, min_passes: int = MIN_OP_PASSES, share: float = MAX_SE_SHARE) -> bool:
    """The stopping rule (module doc): enough passes and a small enough summed standard error."""
    if len(per_pass) < min_passes:
        return False
    got = se_share(per_pass)
    return got is not None and got <= share


def percentiles(per_pass, qs=(10, 90)) -> list[np.ndarray]:
    """Per module, the given percentiles over passes of a (passes, modules) array."""
    a = np.asarray(per_pass, dtype=float)
    return [np.percentile(a, q, axis=0) for q in qs]


def row_spreads(per_pass, n: int, parents, *, ops=None, clock_ms_per_op: float = 0.0,
                scale: float = 1.0) -> dict[str, list[float]]:
    """Per module, p10 and p90 over passes of its self ms and of its inclusive ms, each pass
    treated as the medians are (accounting.account): ms, the model's row also taking what ran
    outside every module (the last slot), less the clock's cost per operator, never below 0,
    times the run's op_scale. `per_pass`: (passes, n + 1) seconds; `parents`: ModuleTable's."""
    a = np.asarray(per_pass, dtype=float) * 1e3
    own = a[:, :n].copy()
    own[:, 0] += a[:, n]
    if ops is not None:
        k = np.asarray(ops[:n], dtype=float)
        k[0] += ops[n]
        own = np.clip(own - clock_ms_per_op * k, 0.0, None)
    own *= scale
    inc = own.copy()
    for i in range(n - 1, 0, -1):  # children come after parents: sweep backwards
        if parents[i] >= 0:
            inc[:, parents[i]] += inc[:, i]
    (s10, s90), (i10, i90) = percentiles(own), percentiles(inc)
    return {"self_ms_p10": s10.tolist(), "self_ms_p90": s90.tolist(),
            "latency_ms_p10": i10.tolist(), "latency_ms_p90": i90.tolist()}
