"""The passes of a training profile (mode="train"), on a deep copy of the model: one counted step
(forward and backward counts per module, bytes saved for backward, the step's peak memory), then
the step timed whole (torch.utils.benchmark, with its reliability) and with every operator timed,
forward and backward apart, per module. See training.py for how the backward is attributed."""
from __future__ import annotations

from ..core import env as _env
from ..timing import harness as timing
from ..count.counter import Recorder
from ..core.hooks import ModuleTable
from ..core.memory import CudaPeaks, LiveBytes
from ..core.recorder import recording
from ..timing.operators import CudaOpClock, OpClock, _wall
from ..timing.reliability import Watch
from .autograd import SavedBytes, step_function, traced_step


def count_step(model, x, table: ModuleTable, run, conventions, memory: bool, say) -> dict:
    """{'forward': recorder, 'backward': recorder, 'saved': bytes per module, 'peak': step peak}
    of one training step; a failure is recorded on `run` and the result is {}."""
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
            traced_step(model, x, table, fwd, bwd, recording, saved=saved)
    except Exception as exc:
        failing = fwd.stack[-1] if len(fwd.stack) > 1 else None
        run.unfinished = set(fwd.stack[1:])
        run.fail("training step", exc, failing, forward=True)
        return {}
    return {"forward": fwd, "backward": bwd, "saved": saved.bytes,
            "peak": tracker.peak if tracker is not None else None}


def time_step(model, x, table: ModuleTable, run, say, *, sgd: bool, warmup: int, warmup_s: float,
              budget_s: float, max_s: float, passes: int) -> dict:
    """The step timed whole (Timer, watched for load), then `passes` steps with every operator
    timed, forward and backward apart, each beside an uninstrumented step."""
    import torch

    dev, threads = run.device, torch.get_num_threads()
    step = step_function(model, x, sgd=sgd)
    out: dict = {}
    try:
        with _env.gc_paused():
            say("timing the training step", 0, budget_s)
            with Watch(threads, cpu=dev.type == "cpu") as watch:
                out["whole"] = timing.time_whole(step, dev, threads=threads, warmup=warmup,
                                                 warmup_s=warmup_s, budget_s=budget_s, max_s=max_s)
            out["watch"] = watch.facts
            make = CudaOpClock if dev.type == "cuda" else OpClock
            fwd, bwd = make(table), make(table)
            out.update(per_pass=[], per_pass_backward=[], walls=[], plain=[])
            for r in range(passes):
                say("timing every operator of a step", r, passes)
                out["plain"].append(_wall(step, dev))
                fwd.reset()
                bwd.reset()
                out["walls"].append(_wall(lambda: traced_step(model, x, table, fwd, bwd, recording),
                                          dev))
                out["per_pass"].append(list(fwd.read()))
                out["per_pass_backward"].append(list(bwd.read()))
    except Exception as exc:
        run.fail("training step timing", exc, forward=True)
    return out


def step_figures(result: dict, table: ModuleTable, self_ms_of) -> tuple[list[dict], dict, dict]:
    """What a training profile adds to a report: per row (macs_backward, saved_bytes,
    self_ms_backward, latency_ms_backward), totals (macs_forward, macs_backward, macs_step, the
    backward under every other dispatch convention, saved_bytes, the step's peak_bytes) and timing
    (op_ms_forward, op_ms_backward). `self_ms_of(per_pass)`: per-module medians in ms."""
    n = len(table)

    def inclusive(exclusive):
        total = table.inclusive(exclusive)
        total[0] += exclusive[n]  # outside every module: the model's own
        return total

    rows = [{} for _ in range(n)]
    totals, timing_extra = {}, {}
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
    per_pass_b = result.get("timing", {}).get("per_pass_backward")
    if per_pass_b:
        self_b = self_ms_of(per_pass_b)
        incl_b = table.inclusive(self_b)
        for i in range(n):
            rows[i].update(self_ms_backward=self_b[i], latency_ms_backward=incl_b[i])
        timing_extra["op_ms_backward"] = sum(self_b)
    return rows, totals, timing_extra
