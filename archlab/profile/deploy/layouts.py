"""Channels-last or not: measured per model, since it pays off for some convolutions and costs for
others (depthwise convs, reshapes that force copies back to NCHW).

`Module.to(memory_format=torch.channels_last)` refuses a model that holds a 5-D parameter (a bank of
kernels, as in Dite-HRNet's dynamic convs), so 4-D parameters and buffers are converted one by one
(env.to_memory_format) and everything else is left as it is.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from ..core.env import to_memory_format
from ..timing.budgets import LAYOUT
from ..timing.harness import side_by_side
from ..timing.stats import paired_ratio

LAYOUT_WARMUP, LAYOUT_ROUNDS, LAYOUT_BUDGET_S = LAYOUT.warmup, LAYOUT.max_rounds, LAYOUT.budget_s


def to_channels_last(module: nn.Module) -> nn.Module:
    """`module` with every 4-D parameter and buffer in channels_last, in place; returns it."""
    return to_memory_format(module, torch.channels_last)


def channels_last_forward(module: nn.Module) -> Callable:
    """Calls `module` on its input converted to channels_last (what a deployment feeds it)."""
    def forward(x):
        return module(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)
    return forward


def choose_layout(module: nn.Module, x: torch.Tensor, device: torch.device, *,
                  warmup: int = LAYOUT_WARMUP, rounds: int = LAYOUT_ROUNDS,
                  budget_s: float = LAYOUT_BUDGET_S) -> tuple[Callable, dict]:
    """The faster of `module` as it is (contiguous) and a channels_last copy of it, timed side by
    side on `x` under inference_mode. Returns (forward, facts): facts holds 'layout'
    ('channels_last' or 'contiguous'), 'channels_last_ratio' (median of the per-round ratios
    channels_last / contiguous, with 'channels_last_p10' / '_p90' / '_rounds'), or 'layout_error'
    when the channels_last copy does not run (the contiguous module is kept)."""
    contiguous = module
    try:
        last = to_channels_last(copy.deepcopy(module))
        cl_forward = channels_last_forward(last)
        budget = LAYOUT.but(warmup=warmup, max_rounds=rounds, budget_s=budget_s)
        with torch.inference_mode():
            cl_forward(x)
            got = side_by_side({"contiguous": lambda: contiguous(x),
                                "channels_last": lambda: cl_forward(x)}, device, **budget.kwargs())
    except Exception as e:  # a model that cannot run channels_last simply stays contiguous
        return contiguous, {"layout": "contiguous",
                            "layout_error": f"{type(e).__name__}: {e}"[:200]}
    ratio = paired_ratio(got.samples["channels_last"], got.samples["contiguous"])
    facts = {"channels_last_ratio": round(ratio["ratio"], 4),
             "channels_last_p10": round(ratio["ratio_p10"], 4),
             "channels_last_p90": round(ratio["ratio_p90"], 4), "channels_last_rounds": ratio["n"]}
    if ratio["ratio"] < 1.0:
        return cl_forward, {"layout": "channels_last", **facts}
    return contiguous, {"layout": "contiguous", **facts}
