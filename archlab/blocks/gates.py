"""Channel gates.

- SqueezeExcite: Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018.
- SoftGate, SoftGatedSkip: Bulat et al., "Toward fast and accurate human pose estimation via
  soft-gated skip connections", FG 2020. The skip connection's identity is scaled per channel by a
  learned gate alpha instead of being added as is; following our spec, alpha is computed SE-style
  from the identity itself (GAP -> 1x1 reduce -> ReLU -> 1x1 expand -> Sigmoid).
"""
from __future__ import annotations

import torch
from torch import nn

from ..common import UsageError
from .conv import ConvBN


class SqueezeExcite(nn.Module):
    """x * Sigmoid(Conv1x1(ReLU(Conv1x1(GAP(x))))), both 1x1 convs with bias; channels -> channels."""

    def __init__(self, channels: int, *, reduction: int = 4):
        super().__init__()
        if reduction <= 0 or channels // reduction < 1:
            raise UsageError(f"{type(self).__name__}: channels ({channels}) // reduction ({reduction}) "
                             "must be at least 1")
        mid = channels // reduction
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, mid, 1, bias=True)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(mid, channels, 1, bias=True)
        self.sigmoid = nn.Sigmoid()

    def alpha(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel gate, (B, C, 1, 1) in (0, 1)."""
        return self.sigmoid(self.expand(self.relu(self.reduce(self.pool(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.alpha(x)


class SoftGate(SqueezeExcite):
    """x * alpha(x): the soft gate of Bulat et al. (FG 2020) for an identity path.

    The same computation as SqueezeExcite, kept as its own class so that a model's module tree says
    which role the gate plays (scaling a skip, e.g. the untouched half of a Lite-HRNet block,
    rather than recalibrating a branch's features).
    """


class SoftGatedSkip(nn.Module):
    """Bulat et al. (FG 2020) block: alpha(x) * x + concat(c1, c2, c3), channels -> channels.

    The residual is three cascaded 3x3 ConvBN+ReLU6 (C -> C/2 -> C/4 -> C/4) whose outputs are
    concatenated back to C channels, so `channels` must be a multiple of 4.
    """

    def __init__(self, channels: int, *, reduction: int = 4):
        super().__init__()
        if channels <= 0 or channels % 4:
            raise UsageError(f"SoftGatedSkip: channels must be a positive multiple of 4, got {channels}")
        half, quarter = channels // 2, channels // 4
        self.conv1 = ConvBN(channels, half, 3, act="relu6")
        self.conv2 = ConvBN(half, quarter, 3, act="relu6")
        self.conv3 = ConvBN(quarter, quarter, 3, act="relu6")
        self.gate = SoftGate(channels, reduction=reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv1(x)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        return self.gate(x) + torch.cat([c1, c2, c3], dim=1)
