"""Paired latency: models timed side by side, in one run, on the same input.

Timing each model on its own and comparing medians taken minutes apart lets whatever else runs on
the machine decide the comparison (a process that starts halfway through makes the later model
look slower). Here the contenders run in interleaved rounds whose order rotates
(harness.side_by_side), and a comparison is the median of the per-round ratios (stats.judged_ratio):
load that comes and goes shifts both sides of each ratio alike. Works on any nn.Module.
"""
from __future__ import annotations

from contextlib import ExitStack

import torch
from torch import nn

from ...common import UsageError
from ..core import env as _env
from ..core.hooks import ModuleTable, evaluating
from .budgets import PAIR
from .faults import kept_pages
from .harness import side_by_side
from .module_pairs import clocked_forward, module_deltas
from .stats import judged_ratio

# the pair budget by its old names (the store keys of archlab.study read them)
PAIR_WARMUP, PAIR_ROUNDS, PAIR_BUDGET_S = PAIR.warmup, PAIR.max_rounds, PAIR.budget_s


def time_models_side_by_side(models: dict[str, nn.Module], input_size, *, batch: int = 1,
                             device="cpu", threads: int | None = None, warmup: int = PAIR_WARMUP,
                             rounds: int = PAIR_ROUNDS, budget_s: float = PAIR_BUDGET_S,
                             seed: int = 0, watch: dict | None = None,
                             per_module: dict | None = None) -> dict[str, list[float]]:
    """Per-round milliseconds of every model, all fed one random input of shape
    (batch, *input_size), in eval mode under torch.inference_mode; each model is given back in the
    mode and on the device it was found. `watch`, a dict, receives what reliability.Watch saw and
    the harness's method (rounds, calls per sample). `per_module`, a dict: every model also runs
    operator-timed in the same rounds (module_pairs.clocked_forward), and per_module[name] receives
    (its ModuleTable, per round its modules' exclusive seconds)."""
    if not models or not all(isinstance(m, nn.Module) for m in models.values()):
        raise UsageError("time_models_side_by_side needs a dict of name -> nn.Module")
    dev = _env.check_device(device)
    with ExitStack() as stack:
        stack.enter_context(_env.gc_paused())
        stack.enter_context(_env.threads(threads))
        for model in models.values():
            stack.enter_context(evaluating(model))
            stack.enter_context(_env.placed(model, dev, "contiguous"))
        x = _env.random_input(next(iter(models.values())), input_size, batch=batch, device=dev,
                              seed=seed)  # the same input for every contender
        forwards = {name: (lambda m=model: m(x)) for name, model in models.items()}
        if per_module is not None:  # the same forwards, every operator timed, in the same rounds
            for name, model in models.items():
                table = ModuleTable(model)
                forwards[f"{name} (operators)"], passes = clocked_forward(forwards[name], table,
                                                                          dev)
                per_module[name] = (table, passes)
        budget = PAIR.but(warmup=warmup, max_rounds=rounds, budget_s=budget_s)
        with torch.inference_mode(), kept_pages(dev.type):  # as a profile times (faults.py)
            got = side_by_side(forwards, dev, **budget.kwargs())
        if watch is not None:
            watch.update(got.watch)
            watch["method"] = got.method
        return got.samples


def paired_latency(model: nn.Module, base: nn.Module, input_size, *, batch: int = 1, device="cpu",
                   threads: int | None = None, warmup: int = PAIR_WARMUP, rounds: int = PAIR_ROUNDS,
                   budget_s: float = PAIR_BUDGET_S, seed: int = 0, per_module: bool = False) -> dict:
    """Latency of `model` relative to `base`, timed side by side: 'ratio' (median of the per-round
    ratios model/base), 'ratio_p10', 'ratio_p90', 'n', each side's median ms over the same rounds
    ('model_ms', 'base_ms'), the method (warm-up, rounds, budget, device, threads), and whether it
    can be trusted ('reliable', 'warnings': reliability.assess on the ratios' spread). With
    `per_module`, both also run operator-timed in the same rounds, and 'module_deltas' says, per
    module they share by name, how its time changed (module_pairs.module_deltas)."""
    seen: dict = {}
    clocked_passes: dict | None = {} if per_module else None
    samples = time_models_side_by_side({"model": model, "base": base}, input_size, batch=batch,
                                       device=device, threads=threads, warmup=warmup,
                                       rounds=rounds, budget_s=budget_s, seed=seed, watch=seen,
                                       per_module=clocked_passes)
    method = seen.pop("method")
    out = judged_ratio(samples["model"], samples["base"], seen)
    if clocked_passes:  # which modules made the difference (module_pairs.py)
        (mt, mp), (bt, bp) = clocked_passes["model"], clocked_passes["base"]
        out["module_deltas"] = module_deltas(mp, bp, mt, bt)
    out.update(method, device=str(_env.check_device(device)),
               threads=threads or torch.get_num_threads())
    return out
