"""Single-branch blocks.

- Bottleneck and BasicBlock: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
  as HRNet (Sun et al., CVPR 2019) uses them: Bottlenecks in stage 1, BasicBlocks on every branch.
- ShuffleUnit: Ma et al., "ShuffleNet V2", ECCV 2018, the block of the naive Lite-HRNet
  (Yu et al., CVPR 2021).

BasicBlock's two design-choice slots are chosen by name: its first 3x3 (a full 3x3 or a
selective-kernel conv, Li et al., CVPR 2019) and a gate on its output (none, or strip pooling,
Hou et al., CVPR 2020).
"""
from __future__ import annotations

import torch
from torch import nn

from .conv import ConvBN, channel_shuffle, check_split, choose
from .selective import SKConv
from .strip import SPM

BASIC_SPATIAL = {
    "conv3x3": lambda c: ConvBN(c, c, 3, act="relu"),
    # SK paths end in BN + ReLU themselves, so the SK conv replaces the whole ConvBN+ReLU
    "sk": lambda c: SKConv(c),
}
BASIC_GATES = {"none": nn.Identity, "spm": SPM}


class BasicBlock(nn.Module):
    """3x3 ConvBN+ReLU -> 3x3 ConvBN, identity add, ReLU (-> gate); channels -> channels."""

    def __init__(self, channels: int, *, spatial: str = "conv3x3", gate: str = "none"):
        super().__init__()
        self.conv1 = choose(BASIC_SPATIAL, spatial, "BasicBlock spatial conv")(channels)
        self.conv2 = ConvBN(channels, channels, 3)
        self.relu = nn.ReLU()
        gate_cls = choose(BASIC_GATES, gate, "BasicBlock gate")
        self.gate = gate_cls() if gate_cls is nn.Identity else gate_cls(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.relu(self.conv2(self.conv1(x)) + x))


class Bottleneck(nn.Module):
    """1x1 ConvBN+ReLU -> 3x3 ConvBN+ReLU (stride) -> 1x1 ConvBN to planes*expansion, add, ReLU.

    The shortcut is a 1x1 ConvBN projection when the shape changes, the identity otherwise.
    """

    def __init__(self, in_channels: int, planes: int, *, stride: int = 1, expansion: int = 4):
        super().__init__()
        out = planes * expansion
        self.conv1 = ConvBN(in_channels, planes, 1, act="relu")
        self.conv2 = ConvBN(planes, planes, 3, stride, act="relu")
        self.conv3 = ConvBN(planes, out, 1)
        project = stride != 1 or in_channels != out
        self.shortcut = ConvBN(in_channels, out, 1, stride) if project else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit (stride 1): halves x1 | x2; x2 -> 1x1 ConvBN+ReLU -> dw 3x3 ConvBN ->
    1x1 ConvBN+ReLU; concat(x1, x2); shuffle(2). channels -> channels."""

    def __init__(self, channels: int):
        super().__init__()
        check_split(channels, 2, "ShuffleUnit")
        half = channels // 2
        self.branch = nn.Sequential(ConvBN(half, half, 1, act="relu"),
                                    ConvBN(half, half, 3, groups=half),
                                    ConvBN(half, half, 1, act="relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat([x1, self.branch(x2)], dim=1), 2)


class Parallel(nn.ModuleList):
    """Runs module i on input i: turns single-branch blocks into a multi-branch block."""

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(x) for m, x in zip(self, xs)]
