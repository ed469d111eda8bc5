"""The passes of a profile, each allowed to fail on its own (the failure is recorded on the run and
the rest goes on): the inputs made, one counted forward, the latency (plain forwards beside
operator-timed ones, in one harness run), and a training profile's passes (train/step.py), which
run on a deep copy."""
from __future__ import annotations

import torch

from .core import env as _env
from .count import external
from .count.counter import Recorder
from .core.hooks import ModuleTable
from .core.memory import CudaPeaks, LiveBytes
from .roofline.moved import recording_traffic
from .timing.budgets import Budget
from .timing.faults import count_faults, kept_pages
from .timing.harness import cuda_graph
from .timing.operators import time_operators, under_clock


def train(module, recipe, batch, dev, memory_format, seed, run, result, say, *, count,
          latency, conventions, memory, sgd, budget: Budget, per_module: bool = True) -> None:
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
        got = count_step(model, x, table, run, conventions, memory, say, record=recording_traffic)
        if got:
            result["count"], result["train"] = got["forward"], got
    if latency and run.forward_ok:
        result["timing"] = time_step(model, x, table, run, say, sgd=sgd, budget=budget,
                                     per_module=per_module)


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
        with _env.gc_paused(), torch.inference_mode(), recording_traffic(rec):
            x.call(module)
    except Exception as exc:
        failing = rec.stack[-1] if len(rec.stack) > 1 else None
        run.unfinished = set(rec.stack[1:])  # modules whose forward the failure interrupted
        run.fail("forward", exc, failing, forward=True)
    return rec


def external_counts(module, x, table, run, say, conventions, rec) -> dict:
    """The fvcore and thop conventions asked for: their rules as the counting pass already ran them
    (count/fvcore_rules.py, count/thop_rules.py), else the tools themselves (count/external.py:
    a model whose calls the pass cannot map for fvcore, or whose inputs take keywords, which the
    tools refuse). A tool that fails is a note; the rest goes on."""
    got = {}
    for name, tool in (("fvcore", external.run_fvcore), ("thop", external.run_thop)):
        if name not in conventions:
            continue
        try:
            counts = None if x.kwargs else _from_pass(name, rec, table)
            if counts is None:
                say(f"counting ({name})")
                counts = tool(module, x, table)
            got[name] = counts
        except Exception as exc:  # a tool that cannot take these inputs, say
            run.fail(name, exc)
    return got


def _from_pass(name, rec, table):
    if name == "fvcore":
        return rec.fvcore.counts(table) if rec.fvcore.doubt is None else None
    return external.thop_counts(table, rec.thop)


def time_latency(module, x, table, run, say, *, budget: Budget, per_module, graph) -> dict:
    """Plain forwards (or, with `graph`, a replayed CUDA graph of one) beside forwards with every
    operator timed, in one harness run (operators.time_operators); {} when it fails."""
    what = "timing the whole model and every operator" if per_module else "timing the whole model"

    def forward():
        x.call(module)
    try:
        with torch.inference_mode():
            say(what, 0, budget.budget_s)
            plain = cuda_graph(forward, run.device) if graph else forward
            traced = under_clock(forward) if graph else None  # the graph's eager forward
            with kept_pages(run.device.type) as kept:  # warm pages everywhere (faults.py)
                got = time_operators(plain, table, run.device, budget=budget,
                                     per_module=per_module, traced=traced,
                                     on_round=lambda n, s: say(what, s, budget.budget_s))
            got["allocator"] = kept
            if per_module and run.device.type == "cpu":  # what fresh pages cost, by default
                got["faults"] = count_faults(forward, table)
            return got
    except Exception as exc:
        run.fail("latency", exc, forward=True)
        return {}
