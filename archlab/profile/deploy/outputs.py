"""Do two runs of a model give the same outputs? What a runtime must pass before its time counts.

An output is any nest of tensors (a tensor, a list of heatmaps, a dict); both sides are flattened in
torch's pytree order, which is also the order an exported ONNX graph lists its outputs in.
The difference is scale-relative: max|y - y_ref| / max|y_ref| per output tensor, the largest over
the outputs. An element-wise relative difference would blow up wherever the reference is near zero
(most of a heatmap), although an absolute error of 1e-7 there means nothing.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils._pytree import tree_leaves

REL_TOLERANCE = 1e-4  # beyond this a runtime computes something else, and its time is not valid


def flat_outputs(out) -> list[torch.Tensor]:
    """The tensors of an output nest in pytree order; numpy arrays (ORT's) become tensors."""
    leaves = tree_leaves(out)
    return [torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in leaves]


def compare(out, reference) -> dict:
    """'max_abs_diff', 'max_rel_diff' (see the module docstring) and 'mismatch': a few words when
    the outputs cannot be compared at all (other count, shapes or types), else None."""
    got, ref = flat_outputs(out), flat_outputs(reference)
    if len(got) != len(ref):
        return {"max_abs_diff": None, "max_rel_diff": None,
                "mismatch": f"{len(got)} outputs where eager gives {len(ref)}"}
    worst_abs, worst_rel = 0.0, 0.0
    for i, (g, r) in enumerate(zip(got, ref)):
        if not isinstance(g, torch.Tensor) or not isinstance(r, torch.Tensor):
            return {"max_abs_diff": None, "max_rel_diff": None,
                    "mismatch": f"output {i} is a {type(g).__name__}, eager's a {type(r).__name__}"}
        if g.shape != r.shape:
            return {"max_abs_diff": None, "max_rel_diff": None,
                    "mismatch": f"output {i} has shape {tuple(g.shape)}, eager's {tuple(r.shape)}"}
        g, r = g.detach().double().cpu(), r.detach().double().cpu()
        if not r.numel():
            continue
        diff = (g - r).abs().max().item()
        if not math.isfinite(diff):  # a NaN would lose every max() below and pass as equal
            diff = math.inf
        scale = r.abs().max().item()
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / scale if scale > 0 else diff)
    return {"max_abs_diff": worst_abs, "max_rel_diff": worst_rel, "mismatch": None}
