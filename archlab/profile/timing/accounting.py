"""One accounting: the end-to-end median split into operator time and framework overhead, so that
every "of which" adds up to the number it divides.

Both come from ONE harness run (operators.time_operators): `median_ms` is the median of the
uninstrumented calls, the operator time the sum over modules of each module's median operator
time over the operator-timed calls of the same rounds (a forward: one part; a training step:
forward, backward and optimizer). overhead_ms = median_ms - op_ms is what no operator accounts
for: Python between operators, dispatch, module calls, the autograd engine.

Operator times are the clock's windows less the clock's own cost inside them: a window also
holds the Python call that hands the operator on and a clock read, so each operator's time loses
clock_us_per_op (operators.clock_cost_s, calibrated in the same run; 0 on a GPU) and no module's
time goes below 0; clock_ms is what that took off in all.

The rule when the operators still exceed the median (a light model whose windows hold a sizeable
share of the clock's cost, or load that hit the operator-timed calls rather than the plain ones):
the cost of instrumentation is measured in the same rounds — instrumentation_ms, the median over
rounds of (operator-timed call - plain call) — and every operator time (every module, every part)
is scaled by median_ms / (op_ms_measured - clock_ms), so the operators take the whole median and
the overhead is 0: in such a run it cannot be told apart from the instrumentation. op_scale
records the correction, a note says so, and an excess above reliability.MAX_SPREAD marks the
latency not reliable. The overhead is never negative and op_ms + overhead_ms == median_ms.
"""
from __future__ import annotations

import numpy as np

from .reliability import MAX_SPREAD


def account(median_ms: float, parts: dict[str, list[float]], plain_ms: list[float],
            instrumented_ms: list[float], *, ops: dict[str, list[float]] | None = None,
            clock_ms_per_op: float = 0.0) -> tuple[dict[str, list[float]], dict, list[str],
                                                    list[str]]:
    """`parts`: per part, per module, the operators' median ms as measured; `ops`: per part, per
    module, operators per call. Returns (the parts as the report keeps them: corrected for the
    clock's cost and scaled when they exceeded the median; the timing fields: op_ms,
    overhead_ms, op_ms_measured, clock_us_per_op, clock_ms, op_scale, instrumentation_ms,
    instrumented_ms, ops_per_call, and op_ms_PART per part when there are several; notes;
    warnings)."""
    ops = ops or {}
    measured = float(sum(sum(v) for v in parts.values()))
    corrected = {p: [max(0.0, v - clock_ms_per_op * k)
                     for v, k in zip(values, ops.get(p) or [0.0] * len(values))]
                 for p, values in parts.items()}
    net = float(sum(sum(v) for v in corrected.values()))
    scale = median_ms / net if net > median_ms > 0 else 1.0
    kept = {p: [v * scale for v in values] for p, values in corrected.items()}
    op_ms = float(sum(sum(v) for v in kept.values()))
    rounds = min(len(plain_ms), len(instrumented_ms))
    added = [i - p for i, p in zip(instrumented_ms[:rounds], plain_ms[:rounds])]
    fields = {"op_ms": op_ms, "overhead_ms": 0.0 if scale < 1.0 else max(0.0, median_ms - op_ms),
              "op_ms_measured": measured, "clock_us_per_op": 1e3 * clock_ms_per_op,
              "clock_ms": measured - net, "op_scale": scale,
              "ops_per_call": float(sum(sum(k) for k in ops.values())) if ops else None,
              "instrumentation_ms": float(np.median(added)) if added else None,
              "instrumented_ms": float(np.median(instrumented_ms)) if instrumented_ms else None}
    if len(parts) > 1:
        fields.update({f"op_ms_{p}": float(sum(v)) for p, v in kept.items()})
    notes, warnings = [], []
    if scale < 1.0:
        excess = net - median_ms
        cost = fields["instrumentation_ms"]
        notes.append(
            f"operator times scaled by {scale:.3f}: under the operator clock, less its calibrated "
            f"cost ({fields['clock_us_per_op']:.2g} us per operator), they sum to {net:.4g} ms, "
            f"{excess:.3g} ms more than the end-to-end median ({median_ms:.4g} ms) of "
            "uninstrumented calls in the same rounds; an operator-timed call cost "
            + (f"{cost:.3g} ms more than a plain one" if cost is not None else "more")
            + " (instrumentation_ms), so operators take the whole median and the framework "
            "overhead (0 ms) cannot be told apart from the instrumentation in this run")
        if excess > MAX_SPREAD * median_ms:
            warnings.append(f"operator time ({net:.1f} ms) exceeds the end-to-end median by "
                            f"{100 * excess / median_ms:.0f}%: per-module times scaled to it")
    return kept, fields, notes, warnings
