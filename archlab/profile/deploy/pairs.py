"""Does a design choice's cost survive deployment? A model and its base, both under one runtime,
timed side by side.

profile_runtimes divides each runtime by eager on one model; a comparison of design choices needs
the other division: variant / base with both compiled (or both fused, or both in ONNX Runtime).
Each side is prepared and checked against its own eager outputs first, then the two run in
interleaved rounds on the same input, so the ratio is as trustworthy as an eager paired_latency.
"""
from __future__ import annotations

from contextlib import ExitStack

import torch
from torch import nn

from ..core import env as _env
from ..core.hooks import evaluating
from ..timing.budgets import PAIR
from ..timing.harness import side_by_side
from ..timing.stats import judged_ratio
from .outputs import REL_TOLERANCE, compare
from .prepare import describe_error
from .runtimes import COMPILE_LIMIT_S, check_runtimes, prepare_runtime


def _ready(model: nn.Module, x: torch.Tensor, dev: torch.device, runtime: str,
           limit_s: float) -> dict:
    """{'forward', 'valid', 'max_rel_diff', 'prepare_s', 'note'} of one side."""
    with torch.inference_mode():
        reference = model(x)
    p = prepare_runtime(runtime, model, x, dev, time_limit_s=limit_s)
    side = {"forward": p.forward, "valid": False, "max_rel_diff": None,
            "prepare_s": round(p.prepare_s, 3), "note": p.note}
    if p.forward is None:
        return side
    try:
        with torch.inference_mode():
            diff = compare(p.forward(x), reference)
    except Exception as e:  # prepared, but fails when run
        side.update(forward=None, note=f"failed when run: {describe_error(e)}")
        return side
    side["max_rel_diff"] = diff["max_rel_diff"]
    side["valid"] = diff["mismatch"] is None and diff["max_rel_diff"] <= REL_TOLERANCE
    return side


def paired_runtime_latency(model: nn.Module, base: nn.Module, input_size, runtime: str, *,
                           batch: int = 1, device="cpu", threads: int | None = None,
                           seed: int = 0, warmup: int = PAIR.warmup,
                           rounds: int = PAIR.max_rounds, budget_s: float = PAIR.budget_s,
                           time_limit_s: float = COMPILE_LIMIT_S) -> dict:
    """`model` relative to `base`, both under `runtime`, timed side by side: what paired_latency
    gives ('ratio' = median of the per-round ratios model/base, 'ratio_p10', 'ratio_p90', 'n',
    'model_ms', 'base_ms', 'reliable', 'warnings', ...) plus 'runtime', 'valid' (both sides prepared
    and equal to their own eager outputs within 1e-4), 'max_rel_diff' and 'prepare_s' per side
    ({'model': ..., 'base': ...}) and 'note'. When a side cannot be prepared or run the timing
    fields are None. Both models are given back as they were found."""
    names = check_runtimes([runtime])
    runtime = names[-1]
    dev = _env.check_device(device)
    with ExitStack() as stack:
        stack.enter_context(_env.threads(threads))
        for m in (model, base):
            stack.enter_context(evaluating(m))
            stack.enter_context(_env.placed(m, dev, "contiguous"))
        x = _env.random_input(base, input_size, batch=batch, device=dev, seed=seed)
        sides = {"model": _ready(model, x, dev, runtime, time_limit_s),
                 "base": _ready(base, x, dev, runtime, time_limit_s)}
        budget = PAIR.but(warmup=warmup, max_rounds=rounds, budget_s=budget_s)
        out = {"runtime": runtime, "valid": all(s["valid"] for s in sides.values()),
               "max_rel_diff": {k: s["max_rel_diff"] for k, s in sides.items()},
               "prepare_s": {k: s["prepare_s"] for k, s in sides.items()},
               "note": "; ".join(f"{k}: {s['note']}" for k, s in sides.items() if s["note"]),
               "warmup_rounds": budget.warmup, "max_rounds": budget.max_rounds,
               "budget_s": budget.budget_s, "device": str(dev),
               "threads": torch.get_num_threads(), "order": "rotated each round"}
        if any(s["forward"] is None for s in sides.values()):
            return {**out, "ratio": None, "ratio_p10": None, "ratio_p90": None, "n": 0,
                    "model_ms": None, "base_ms": None, "reliable": None, "warnings": []}
        forwards = {k: (lambda f=s["forward"]: f(x)) for k, s in sides.items()}
        with torch.inference_mode():
            got = side_by_side(forwards, dev, **budget.kwargs())
    return {**judged_ratio(got.samples["model"], got.samples["base"], got.watch), **out,
            **got.method}
