"""Context and channel weighting of the light HR nets.

- Lite-HRNet (Yu et al., "Lite-HRNet: A Lightweight High-Resolution Network", CVPR 2021):
  cross-resolution weighting (CRW) and spatial weighting (SW), the two halves of its conditional
  channel weighting that replace ShuffleNet's costly 1x1 convs.
- Dite-HRNet (Li et al., IJCAI 2022): global context modeling (GCM, a GCNet-style attention pool per
  branch) and dense context modeling (DCM, CRW with attention pooling instead of average pooling).

Multi-branch modules (CRW, DCM) take and return a list of tensors, highest resolution first.
Pooling to the lowest branch and nearest upsampling back are functional calls (the authors' are),
the pools of SW are nn.AdaptiveAvgPool2d(1) modules; softmax and the pooling matmuls are functional.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..common import UsageError
from .conv import ConvBN, choose
from .gates import SqueezeExcite


def _mid(total: int, reduction: int, what: str) -> int:
    if reduction < 1 or total // reduction < 1:
        raise UsageError(f"{what}: {total} channels // reduction {reduction} leaves no channel")
    return total // reduction


class CrossResolutionWeighting(nn.Module):
    """CRW: weights for every branch from all branches pooled to the lowest resolution.

    adaptive-avg-pool each branch to the last branch's size, concat (sum C), ConvBN(sum C -> sum C/r)
    + ReLU, ConvBN(-> sum C) + Sigmoid, split, nearest-upsample, multiply.
    """

    def __init__(self, channels: Sequence[int], *, reduction: int = 8):
        super().__init__()
        self.channels = list(channels)
        total = sum(self.channels)
        mid = _mid(total, reduction, "CrossResolutionWeighting")
        self.reduce = ConvBN(total, mid, 1, act="relu")
        self.expand = ConvBN(mid, total, 1, act="sigmoid")

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        size = xs[-1].shape[-2:]
        pooled = [F.adaptive_avg_pool2d(x, size) for x in xs[:-1]] + [xs[-1]]
        weights = self.expand(self.reduce(torch.cat(pooled, dim=1)))
        weights = torch.split(weights, self.channels, dim=1)
        return [x * F.interpolate(w, size=x.shape[-2:], mode="nearest") for x, w in zip(xs, weights)]


class SpatialWeighting(SqueezeExcite):
    """SW: Lite-HRNet's per-branch weighting is an SE gate, x * Sigmoid(Conv1x1(ReLU(Conv1x1(GAP(x)))))
    with both convs biased and no BN; its own class so a module tree names the role it plays."""


class GlobalContextModeling(nn.Module):
    """GCM: BN(x * Sigmoid(Conv(ReLU(BN(Conv(context)))))) with attention-pooled context.

    context = sum_hw softmax_hw(Conv1x1(C->1)(x)) * x, one vector per sample, computed as a matmul.
    No residual add: the authors' GCM multiplies and normalises.
    """

    def __init__(self, channels: int, *, reduction: int = 4):
        super().__init__()
        mid = _mid(channels, reduction, "GlobalContextModeling")
        self.mask = nn.Conv2d(channels, 1, 1, bias=True)
        self.reduce = ConvBN(channels, mid, 1, act="relu")
        self.expand = nn.Conv2d(mid, channels, 1, bias=True)
        self.sigmoid = nn.Sigmoid()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        attn = F.softmax(self.mask(x).view(b, 1, h * w), dim=2).unsqueeze(-1)  # (B, 1, HW, 1)
        context = torch.matmul(x.view(b, 1, c, h * w), attn)  # (B, 1, C, HW) @ -> (B, 1, C, 1)
        weight = self.sigmoid(self.expand(self.reduce(context.view(b, c, 1, 1))))
        return self.bn(x * weight)


def attention_pool(x: torch.Tensor, logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Pool (B, C, H, W) to (B, C, h, w): each output cell is the softmax(logits)-weighted mean of its
    (H/h) x (W/w) patch; `logits` is (B, 1, H, W). H and W must be multiples of h and w.

    The paper's attention pooling; the gathering of patches costs two strided copies per call."""
    b, c, hh, ww = x.shape
    h, w = size
    ph, pw = hh // h, ww // w
    # (B, 1, h, ph, w, pw) -> (B, h, w, ph, pw) -> (B, P, n): P = h*w patches of n = ph*pw pixels
    logits = logits.view(b, h, ph, w, pw).permute(0, 1, 3, 2, 4).reshape(b, h * w, ph * pw)
    attn = F.softmax(logits, dim=-1).unsqueeze(-1)  # (B, P, n, 1), a softmax within each patch
    # (B, C, h, ph, w, pw) -> (B, h, w, C, ph, pw) -> (B, P, C, n)
    patches = x.view(b, c, h, ph, w, pw).permute(0, 2, 4, 1, 3, 5).reshape(b, h * w, c, ph * pw)
    pooled = torch.matmul(patches, attn)  # (B, P, C, 1)
    return pooled.view(b, h, w, c).permute(0, 3, 1, 2)  # (B, C, h, w)


def flat_attention_pool(x: torch.Tensor, logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Dite-HRNet's released pooling, (B, C, H, W) -> (B, C, h, w), with P = h*w, n = H*W/P: the
    softmax of `logits` (B, 1, H, W) runs over all H*W positions, and each sample's C*H*W values
    are read, in memory order, as P chunks of C rows of n values, weighted by the P consecutive
    n-long chunks of that softmax. Channels and positions mix, and every reshape is a view: no
    copy, as in the authors' code. Needs x contiguous within each sample (the halves a block
    chunks off are) and H*W divisible by P."""
    b, c, hh, ww = x.shape
    p = size[0] * size[1]
    n = hh * ww // p
    attn = F.softmax(logits.view(b, 1, hh * ww), dim=2).view(b, p, n, 1)  # (B, P, n, 1)
    pooled = torch.matmul(x.view(b, p, c, n), attn)  # (B, P, C, n) @ -> (B, P, C, 1)
    return pooled.permute(0, 2, 1, 3).view(b, c, *size)  # (B, C, P, 1) -> (B, C, h, w)


# DCM pooling forms: the released code's function, or the paper's per-patch pooling.
POOLS = {"released": flat_attention_pool, "per_patch": attention_pool}


class DenseContextModeling(nn.Module):
    """DCM: CRW whose pooling is attention pooling (a 1x1 C->1 mask conv per pooled branch).

    Every branch but the lowest is attention-pooled to the lowest branch's size; the lowest passes as
    it is and so has no mask conv (the authors build one and never run it). Then concat ->
    ConvBN(sum C -> sum C/r) + ReLU -> Conv1x1(-> sum C, bias) -> Sigmoid -> split, nearest-upsample,
    multiply. pool="released" reproduces the authors' code (`flat_attention_pool`: channels and
    positions mixed, no copy); pool="per_patch" is the pooling the paper describes
    (`attention_pool`). Both have the same parameters and multiply-adds.
    """

    def __init__(self, channels: Sequence[int], *, reduction: int = 8, pool: str = "released"):
        super().__init__()
        self.pool_fn = choose(POOLS, pool, "DCM pooling")
        self.pool_form = pool
        self.channels = list(channels)
        total = sum(self.channels)
        mid = _mid(total, reduction, "DenseContextModeling")
        self.masks = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=True) for c in self.channels[:-1])
        self.reduce = ConvBN(total, mid, 1, act="relu")
        self.expand = nn.Conv2d(mid, total, 1, bias=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        size = xs[-1].shape[-2:]
        pooled = [self.pool_fn(x, mask(x), size) for x, mask in zip(xs, self.masks)] + [xs[-1]]
        weights = self.sigmoid(self.expand(self.reduce(torch.cat(pooled, dim=1))))
        weights = torch.split(weights, self.channels, dim=1)
        return [x * F.interpolate(w, size=x.shape[-2:], mode="nearest") for x, w in zip(xs, weights)]

    def extra_repr(self) -> str:
        return f"pool={self.pool_form}"


# The papers' short names.
CRW, SW = CrossResolutionWeighting, SpatialWeighting
GCM, DCM = GlobalContextModeling, DenseContextModeling
