"""The passes of a profile, each allowed to fail on its own (the failure is recorded on the run and
the rest goes on): the inputs made, one counted forward, the latency (whole model, then every
operator), and a training profile's passes (train_passes.py), which run on a deep copy."""
from __future__ import annotations

import torch

from .core import env as _env
from .timing import harness as timing
from .count.counter import Recorder
from .core.hooks import ModuleTable
from .core.memory import CudaPeaks, LiveBytes
from .core.recorder import recording
from .timing.operators import time_operators
from .timing.reliability import Watch

WARMUP_S = 0.5  # at least this long a warm-up before any timing: a GPU needs time to reach its clocks


def train(module, recipe, batch, dev, memory_format, seed, run, result, say, *, count,
           latency, conventions, memory, sgd, timing_options) -> None:
    """A training profile's passes, on a deep copy (the module is not touched): results go into
    `result` as "count" (the forward's recorder), "train" (the step's counts) and "timing"."""
    from .train.step import count_step, time_step
    from .train.autograd import training_copy

    try:
        model = training_copy(module, dev)
        if memory_format == "channels_last":
            _env.to_memory_format(model, torch.channels_last)
        x = recipe.make(model, batch=batch, device=dev, seed=seed, memory_format=memory_format)
    except Exception as exc:
        run.fail("copying the model for training", exc, forward=True)
        return
    result["inputs"] = x
    table = ModuleTable(model)  # the copy's modules, under the same names
    if count:
        got = count_step(model, x, table, run, conventions, memory, say)
        if got:
            result["count"], result["train"] = got["forward"], got
    if latency and run.forward_ok:
        result["timing"] = time_step(model, x, table, run, say, sgd=sgd, **timing_options)


def prepare(stack, module, recipe, batch, dev, memory_format, seed, run):
    """The model on the device and its inputs made (the same for a given seed); a failure (out of
    memory, say) is recorded and nothing runs."""
    try:
        stack.enter_context(_env.placed(module, dev, memory_format))
        return recipe.make(module, batch=batch, device=dev, seed=seed, memory_format=memory_format)
    except Exception as exc:
        run.fail("placing the model and its input", exc, forward=True)
        return None


def count_pass(module, x, table, run, memory, say, conventions):
    tracker = None
    if memory:
        tracker = CudaPeaks(run.device) if run.device.type == "cuda" else LiveBytes()
    every = max(1, len(table) // 40)  # a few dozen progress updates per pass
    rec = Recorder(table, tracker, conventions=conventions,
                   on_module_done=lambda n: n % every or say("counting", n, len(table)))
    try:
        with _env.gc_paused(), torch.inference_mode(), recording(rec):
            x.call(module)
    except Exception as exc:
        failing = rec.stack[-1] if len(rec.stack) > 1 else None
        run.unfinished = set(rec.stack[1:])  # modules whose forward the failure interrupted
        run.fail("forward", exc, failing, forward=True)
    return rec


def time_latency(module, x, table, run, say, *, warmup, budget_s, max_s, per_module, module_iters,
             graph):
    out: dict = {}
    dev, threads = run.device, torch.get_num_threads()
    elapsed = [0.0]

    def forward():
        x.call(module)

    def block_done(number, seconds):  # Timer's callback: one block of `number` calls timed
        elapsed[0] += seconds
        say("timing the whole model", elapsed[0], budget_s)
    try:
        with _env.gc_paused(), torch.inference_mode():
            say("timing the whole model", 0, budget_s)
            timed = timing.cuda_graph(forward, dev) if graph else forward
            with Watch(threads, cpu=dev.type == "cpu") as watch:
                out["whole"] = timing.time_whole(timed, dev, threads=threads, warmup=warmup,
                                                 warmup_s=WARMUP_S, budget_s=budget_s, max_s=max_s,
                                                 callback=block_done)
            out["watch"] = watch.facts
            if per_module:
                say("timing every operator", 0, module_iters)
                out.update(time_operators(
                    forward, table, dev, passes=module_iters, budget_s=max_s,
                    on_pass=lambda n: say("timing every operator", n, module_iters)))
    except Exception as exc:
        run.fail("latency", exc, forward=True)
    return out
