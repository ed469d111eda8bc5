"""The passes of a training profile (mode="train"), on a deep copy of the model: one counted step
(forward and backward counts per module, bytes saved for backward, the step's peak memory), then
the step timed in ONE harness run: plain steps beside steps with every operator timed (forward,
backward and the optimizer apart, per module), so the step's median and its split come from the
same rounds (timing/operators.py, timing/accounting.py). See autograd.py for how the backward is
attributed."""
from __future__ import annotations

from ..core import env as _env
from ..count.counter import Recorder
from ..core.hooks import ModuleTable
from ..core.memory import CudaPeaks, LiveBytes
from ..core.recorder import recording
from ..timing.budgets import Budget
from ..timing.operators import time_operators
from .autograd import SavedBytes, step_function, traced_step


def count_step(model, x, table: ModuleTable, run, conventions, memory: bool, say, *,
               record=recording) -> dict:
    """{'forward': recorder, 'backward': recorder, 'saved': bytes per module, 'peak': step peak}
    of one training step; a failure is recorded on `run` and the result is {}. `record(recorder)`
    attaches each recorder (core/recorder.py `recording`, or one that adds a mode beside it)."""
    tracker = None
    if memory:
        tracker = CudaPeaks(run.device) if run.device.type == "cuda" else LiveBytes()
    fwd = Recorder(table, tracker, conventions=conventions)
    fwd.keep_memory = True  # the backward goes on with the same tracker
    bwd = Recorder(table, tracker, conventions=conventions)
    saved = SavedBytes(fwd.stack, len(table), model)
    say("counting a training step")
    try:
        with _env.gc_paused():
            traced_step(model, x, table, fwd, bwd, record, saved=saved)
    except Exception as exc:
        failing = fwd.stack[-1] if len(fwd.stack) > 1 else None
        run.unfinished = set(fwd.stack[1:])
        run.fail("training step", exc, failing, forward=True)
        return {}
    return {"forward": fwd, "backward": bwd, "saved": saved.bytes,
            "peak": tracker.peak if tracker is not None else None}


def time_step(model, x, table: ModuleTable, run, say, *, sgd: bool, budget: Budget,
              per_module: bool = True) -> dict:
    """Plain training steps beside steps with every operator timed (forward, backward and, with
    `sgd`, the optimizer step apart), in rotated rounds (operators.time_operators); a failure is
    recorded on `run` and {} returned."""
    step = step_function(model, x, sgd=sgd)
    parts = ("forward", "backward") + (("optimizer",) if sgd else ())
    say("timing training steps and their operators", 0, budget.budget_s)
    try:
        return time_operators(step, table, run.device, budget=budget, per_module=per_module,
                              traced=lambda clocks: step.traced(table, clocks, recording),
                              parts=parts, on_round=lambda n, s: say(
                                  "timing training steps and their operators", s, budget.budget_s))
    except Exception as exc:
        run.fail("training step timing", exc, forward=True)
        return {}


def step_figures(result: dict, table: ModuleTable,
                 self_ms_backward: list[float] | None) -> tuple[list[dict], dict]:
    """What a training profile adds to a report: per row (macs_backward, saved_bytes,
    self_ms_backward, latency_ms_backward) and totals (macs_forward, macs_backward, macs_step, the
    backward under every other dispatch convention, saved_bytes, the step's peak_bytes).
    `self_ms_backward`: per module, the backward operators' ms as the report keeps them."""
    n = len(table)

    def inclusive(exclusive):
        total = table.inclusive(exclusive)
        total[0] += exclusive[n]  # outside every module: the model's own
        return total

    rows = [{} for _ in range(n)]
    totals = {}
    got = result.get("train")
    if got:
        bwd = got["backward"]
        macs_b, saved = inclusive(bwd.macs), inclusive(got["saved"])
        for i in range(n):
            rows[i].update(macs_backward=macs_b[i], saved_bytes=saved[i])
        forward = table.inclusive(got["forward"].macs)[0] + got["forward"].macs[n]
        totals.update(macs_forward=forward, macs_backward=macs_b[0], macs_step=forward + macs_b[0],
                      saved_bytes=saved[0], peak_bytes=got["peak"])
        for c, exclusive in bwd.counts.items():
            if c != "archlab":
                totals[f"macs_backward[{c}]"] = inclusive(exclusive)[0]
    if self_ms_backward is not None:
        incl_b = table.inclusive(self_ms_backward)
        for i in range(n):
            rows[i].update(self_ms_backward=self_ms_backward[i], latency_ms_backward=incl_b[i])
    return rows, totals
