"""The multi-branch block of the light HR nets, one class for both papers.

Lite-HRNet's conditional channel weighting block (Yu et al., CVPR 2021) and Dite-HRNet's dynamic
multi-scale context block (Li et al., IJCAI 2022) share one skeleton, applied to all branches at once:
split every branch into halves (x1, x2); x2 -> context across branches -> a depthwise spatial conv per
branch -> a weighting per branch; concat(x1, x2) -> shuffle(2). They differ only in the choices:

    Lite CCW:  context="crw", spatial="dw3", weighting="sw"
    Dite DMC:  context="dcm", spatial="dsc", weighting="gcm"   (num_kernels (4, 4, 2, 1),
               split_groups (1, 1, 2, 4), gcm_reduction (4, 4, 8, 8) by branch index)

so every design-choice variant is one name in one of the tables below. Extra choices: a
selective-kernel conv ("sk", Li et al., CVPR 2019) with depthwise paths, strip pooling ("spm",
Hou et al., CVPR 2020) as the weighting, and a soft gate on the identity half ("softgate", Bulat et
al., FG 2020).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..common import UsageError
from .context import CrossResolutionWeighting, DenseContextModeling, GlobalContextModeling, SpatialWeighting
from .conv import channel_shuffle, check_split, choose
from .dynamic import DynamicSplitConv, dynamic_conv_bn
from .gates import SoftGate
from .selective import SKConv
from .strip import SPM

# Context across branches: (half-widths, reduction, DCM pooling form) -> module taking and
# returning a list.
CONTEXT = {
    "crw": lambda cs, r, pool: CrossResolutionWeighting(cs, reduction=r),
    "dcm": lambda cs, r, pool: DenseContextModeling(cs, reduction=r, pool=pool),
    "none": lambda cs, r, pool: nn.Identity(),
}
# Spatial conv of one branch: (channels, kernels, split groups) -> module.
SPATIAL = {
    "dw3": lambda c, k, g: dynamic_conv_bn(c, c, 3, groups=c, num_kernels=k),
    "dsc": lambda c, k, g: DynamicSplitConv(c, groups=g, num_kernels=k),
    "sk": lambda c, k, g: SKConv(c, groups=c),  # depthwise paths, as the block's conv is depthwise
}
# Weighting of one branch: (channels, SW reduction, GCM reduction) -> module.
WEIGHTING = {
    "sw": lambda c, r_sw, r_gcm: SpatialWeighting(c, reduction=r_sw),
    "gcm": lambda c, r_sw, r_gcm: GlobalContextModeling(c, reduction=r_gcm),
    "spm": lambda c, r_sw, r_gcm: SPM(c),
    "none": lambda c, r_sw, r_gcm: nn.Identity(),
}
# What the untouched half x1 goes through: channels -> module.
SKIP = {"identity": lambda c: nn.Identity(), "softgate": lambda c: SoftGate(c)}


def per_branch(values: Sequence[int] | int | None, n: int, default: int, what: str) -> tuple[int, ...]:
    """A per-branch setting for n branches: a tuple with at least n entries (extra ones unused)."""
    if values is None:
        return (default,) * n
    if isinstance(values, int):
        return (values,) * n
    values = tuple(values)
    if len(values) < n:
        raise UsageError(f"{what} needs a value for each of {n} branches, got {values}")
    return values[:n]


class CCWBlock(nn.Module):
    """Split-weight-shuffle block over all branches; list of (B, C_i, H_i, W_i) -> same shapes."""

    def __init__(self, channels: Sequence[int], *, context: str = "crw", context_reduction: int = 8,
                 dcm_pool: str = "released", spatial: str = "dw3", num_kernels: Sequence[int] | None = None,
                 split_groups: Sequence[int] | None = None, weighting: str = "sw", sw_reduction: int = 4,
                 gcm_reduction: Sequence[int] | None = None, skip: str = "identity"):
        super().__init__()
        for c in channels:
            check_split(c, 2, "CCWBlock")
        n = len(channels)
        halves = [c // 2 for c in channels]
        kernels = per_branch(num_kernels, n, 1, "num_kernels")
        groups = per_branch(split_groups, n, 1, "split_groups")
        gcm_r = per_branch(gcm_reduction, n, 4, "gcm_reduction")
        make_context = choose(CONTEXT, context, "context")
        make_spatial = choose(SPATIAL, spatial, "spatial conv")
        make_weighting = choose(WEIGHTING, weighting, "weighting")
        make_skip = choose(SKIP, skip, "skip")
        self.context = make_context(halves, context_reduction, dcm_pool)
        self.spatial = nn.ModuleList(make_spatial(c, k, g) for c, k, g in zip(halves, kernels, groups))
        self.weighting = nn.ModuleList(make_weighting(c, sw_reduction, r) for c, r in zip(halves, gcm_r))
        self.skip = nn.ModuleList(make_skip(c) for c in halves)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        halves = [x.chunk(2, dim=1) for x in xs]
        x1 = [skip(h[0]) for skip, h in zip(self.skip, halves)]
        x2 = self.context([h[1] for h in halves])
        x2 = [weight(conv(x)) for conv, weight, x in zip(self.spatial, self.weighting, x2)]
        return [channel_shuffle(torch.cat([a, b], dim=1), 2) for a, b in zip(x1, x2)]
