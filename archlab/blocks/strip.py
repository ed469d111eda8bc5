"""Strip pooling (Hou et al., "Strip Pooling: Rethinking Spatial Pooling for Scene Parsing", CVPR 2020).

SPM, the strip pooling module, is a gate: long thin pools (a column and a row per position) give
every pixel context from its whole row and column at the cost of one H-vector and one W-vector.
MPM, the mixed pooling module, adds short-range context (square pools 20x20 and 12x12) beside the
long-range strips, in a residual block of inner width C/4 (released code: Andrew-Qibin/SPNet).

Pools, convs, BN, ReLU and Sigmoid are nn modules, one per call site, so module-hook counters see
each of them; upsampling is F.interpolate because its target size is only known in forward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import UsageError
from .conv import ConvBN


class SPM(nn.Module):
    """Strip pooling gate: x * Sigmoid(Conv1x1(ReLU(rows + cols))), channels -> channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))  # (B, C, H, 1): one value per row
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))  # (B, C, 1, W): one value per column
        self.conv_h = ConvBN(channels, channels, (3, 1))
        self.conv_w = ConvBN(channels, channels, (1, 3))
        self.relu = nn.ReLU()
        self.fuse = nn.Conv2d(channels, channels, 1, bias=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        rows = self.conv_h(self.pool_h(x)).expand(-1, -1, h, w)
        cols = self.conv_w(self.pool_w(x)).expand(-1, -1, h, w)
        return x * self.sigmoid(self.fuse(self.relu(rows + cols)))


class MPM(nn.Module):
    """Mixed pooling module: ReLU(x + ConvBN(concat(short-range, long-range))), channels -> channels."""

    def __init__(self, channels: int, *, pool_sizes: tuple[int, int] = (20, 12)):
        super().__init__()
        m = channels // 4
        if m < 1:
            raise UsageError(f"MPM needs at least 4 channels (inner width C/4), got {channels}")
        self.reduce1 = ConvBN(channels, m, 1, act="relu")  # x1: short-range path
        self.reduce2 = ConvBN(channels, m, 1, act="relu")  # x2: long-range path
        # short range: the full-resolution 3x3 plus two square pools
        self.local = ConvBN(m, m, 3)
        self.pool_a = nn.AdaptiveAvgPool2d(pool_sizes[0])
        self.conv_a = ConvBN(m, m, 3)
        self.pool_b = nn.AdaptiveAvgPool2d(pool_sizes[1])
        self.conv_b = ConvBN(m, m, 3)
        self.relu_short = nn.ReLU()
        self.out_short = ConvBN(m, m, 3, act="relu")
        # long range: a row strip and a column strip
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        self.conv_w = ConvBN(m, m, (1, 3))
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.conv_h = ConvBN(m, m, (3, 1))
        self.relu_long = nn.ReLU()
        self.out_long = ConvBN(m, m, 3, act="relu")
        self.project = ConvBN(2 * m, channels, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=size, mode="bilinear", align_corners=True)

        x1, x2 = self.reduce1(x), self.reduce2(x)
        short = self.local(x1) + up(self.conv_a(self.pool_a(x1))) + up(self.conv_b(self.pool_b(x1)))
        short = self.out_short(self.relu_short(short))
        long = up(self.conv_w(self.pool_w(x2))) + up(self.conv_h(self.pool_h(x2)))
        long = self.out_long(self.relu_long(long))
        return self.relu(x + self.project(torch.cat([short, long], dim=1)))
