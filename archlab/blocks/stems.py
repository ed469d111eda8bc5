"""Stems: input image -> 1/4 resolution features.

- HRNetStem: two 3x3 stride-2 ConvBN+ReLU (Sun et al., CVPR 2019).
- LiteStem: Lite-HRNet's ShuffleNet-style stem (Yu et al., CVPR 2021).
- DGCStem: Dite-HRNet's dynamic global context stem (Li et al., IJCAI 2022): the Lite stem's
  layout with DKA convs and a GCM in each half.
Both light stems: ConvBN(3 -> C, 3x3, s2)+ReLU, split halves a | b, each half to 1/4, concat, shuffle(2).
"""
from __future__ import annotations

import torch
from torch import nn

from ..common import UsageError
from .context import GlobalContextModeling
from .conv import ConvBN, channel_shuffle, check_split
from .dynamic import dynamic_conv_bn


class HRNetStem(nn.Sequential):
    """ConvBN(in -> C, 3x3, s2)+ReLU -> ConvBN(C -> C, 3x3, s2)+ReLU."""

    def __init__(self, in_channels: int = 3, channels: int = 64):
        super().__init__(ConvBN(in_channels, channels, 3, 2, act="relu"),
                         ConvBN(channels, channels, 3, 2, act="relu"))


class _SplitStem(nn.Module):
    """conv1, then halves through branch_a and branch_b, concat, shuffle(2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1(x).chunk(2, dim=1)
        return channel_shuffle(torch.cat([self.branch_a(a), self.branch_b(b)], dim=1), 2)


class LiteStem(_SplitStem):
    """a: dw 3x3 s2 ConvBN -> 1x1 ConvBN+ReLU; b: 1x1 ConvBN+ReLU (to C) -> dw 3x3 s2 ConvBN ->
    1x1 ConvBN+ReLU (back to C/2). Output C channels at 1/4."""

    def __init__(self, in_channels: int = 3, channels: int = 32):
        super().__init__()
        check_split(channels, 2, "LiteStem")
        half = channels // 2
        self.conv1 = ConvBN(in_channels, channels, 3, 2, act="relu")
        self.branch_a = nn.Sequential(ConvBN(half, half, 3, 2, groups=half),
                                      ConvBN(half, half, 1, act="relu"))
        self.branch_b = nn.Sequential(ConvBN(half, channels, 1, act="relu"),
                                      ConvBN(channels, channels, 3, 2, groups=channels),
                                      ConvBN(channels, half, 1, act="relu"))


class DGCStem(_SplitStem):
    """a: DKA dw 3x3 s2 + BN -> GCM -> DKA 1x1 + BN + ReLU;
    b: DKA dw 3x3 + BN -> GCM -> DKA 1x1 (C/2 -> C/2 // bottleneck) + BN + ReLU -> DKA 1x1 back + BN
       -> DKA dw 3x3 s2 + BN + ReLU.
    conv1 is static; every other conv has `num_kernels` kernels. Output C channels at 1/4."""

    def __init__(self, in_channels: int = 3, channels: int = 32, *, num_kernels: int = 4,
                 gcm_reduction: int = 4, bottleneck: int = 4):
        super().__init__()
        check_split(channels, 2, "DGCStem")
        half, k = channels // 2, num_kernels
        mid = half // bottleneck
        if mid < 1:
            raise UsageError(f"DGCStem: {half} channels // bottleneck {bottleneck} leaves no channel")
        self.conv1 = ConvBN(in_channels, channels, 3, 2, act="relu")
        self.branch_a = nn.Sequential(
            dynamic_conv_bn(half, half, 3, 2, groups=half, num_kernels=k),
            GlobalContextModeling(half, reduction=gcm_reduction),
            dynamic_conv_bn(half, half, 1, num_kernels=k, act="relu"))
        self.branch_b = nn.Sequential(
            dynamic_conv_bn(half, half, 3, 1, groups=half, num_kernels=k),
            GlobalContextModeling(half, reduction=gcm_reduction),
            dynamic_conv_bn(half, mid, 1, num_kernels=k, act="relu"),
            dynamic_conv_bn(mid, half, 1, num_kernels=k),
            dynamic_conv_bn(half, half, 3, 2, groups=half, num_kernels=k, act="relu"))
