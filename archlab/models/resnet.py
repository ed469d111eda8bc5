"""ResNet-style classifiers from a frozen spec; SKNet-50 (Li et al., "Selective Kernel Networks",
CVPR 2019): the ResNeXt-50 (32x4d) layout with every unit's grouped 3x3 replaced by an SK conv.

Layout: stem 7x7 s2 ConvBN+ReLU and 3x3 s2 max-pool; stages of units
ConvBN 1x1 + ReLU -> SKConv(C, stride) -> ConvBN(C -> expansion*C, 1x1) -> + shortcut -> ReLU,
the first unit of each stage with a strided ConvBN 1x1 projection shortcut; GAP -> Linear.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..common import UsageError
from ..blocks.conv import ConvBN, choose
from ..blocks.selective import SK_PATHS, SKConv
from .spec import ModelSpec


@dataclass(frozen=True)
class ResNetSpec(ModelSpec):
    depths: tuple[int, ...] = (3, 4, 6, 3)  # units per stage
    widths: tuple[int, ...] = (128, 256, 512, 1024)  # inner width C of each stage's units
    strides: tuple[int, ...] = (1, 2, 2, 2)  # stride of each stage's first unit
    expansion: int = 2  # unit output = expansion * C
    stem_width: int = 64
    groups: int = 32  # groups of the SK paths
    sk_paths: str = "dilated"  # a name in archlab.blocks.selective.SK_PATHS
    sk_reduction: int = 16  # d = max(C // sk_reduction, sk_min_dim)
    sk_min_dim: int = 32
    num_classes: int = 1000

    def build(self) -> nn.Module:
        return ResNet(self)

    def choices(self, field: str) -> dict | None:
        return SK_PATHS if field == "sk_paths" else None

    def output_shape(self, batch: int, input_size=None) -> tuple[int, ...]:
        return (batch, self.num_classes)  # logits


class SKUnit(nn.Module):
    """Bottleneck unit with an SK conv in the middle: in_channels -> expansion * width."""

    def __init__(self, in_channels: int, width: int, *, stride: int = 1, expansion: int = 2,
                 project: bool = False, groups: int = 32, paths: str = "dilated", reduction: int = 16,
                 min_dim: int = 32):
        super().__init__()
        out = expansion * width
        self.reduce = ConvBN(in_channels, width, 1, act="relu")
        self.sk = SKConv(width, stride=stride, groups=groups, reduction=reduction, min_dim=min_dim,
                         paths=paths)
        self.expand = ConvBN(width, out, 1)
        if not project and (stride != 1 or in_channels != out):
            raise UsageError(f"SKUnit {in_channels}->{out} with stride {stride} needs a projection shortcut")
        self.shortcut = ConvBN(in_channels, out, 1, stride) if project else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.expand(self.sk(self.reduce(x))) + self.shortcut(x))


class ResNet(nn.Module):
    """Classifier built from a ResNetSpec; (B, 3, H, W) -> (B, num_classes) logits."""

    def __init__(self, spec: ResNetSpec):
        super().__init__()
        if not len(spec.depths) == len(spec.widths) == len(spec.strides):
            raise UsageError(f"{spec.name}: depths, widths and strides need one entry per stage, got "
                             f"{spec.depths}, {spec.widths}, {spec.strides}")
        if min(spec.depths, default=0) < 1:
            raise UsageError(f"{spec.name}: every stage needs at least one unit, got depths {spec.depths}")
        choose(SK_PATHS, spec.sk_paths, "SK path form")  # fail at build, naming the choices
        self.name = spec.name
        self.in_channels = spec.input_size[0]
        # Smallest side that leaves at least one pixel after the stem (x4) and the strided stages.
        self.min_side = 4 * math.prod(spec.strides)
        self.stem = nn.Sequential(ConvBN(self.in_channels, spec.stem_width, 7, 2, act="relu"),
                                  nn.MaxPool2d(3, stride=2, padding=1))
        stages, c_in = [], spec.stem_width
        for depth, width, stride in zip(spec.depths, spec.widths, spec.strides):
            units = []
            for i in range(depth):
                units.append(SKUnit(c_in, width, stride=stride if i == 0 else 1, expansion=spec.expansion,
                                    project=i == 0, groups=spec.groups, paths=spec.sk_paths,
                                    reduction=spec.sk_reduction, min_dim=spec.sk_min_dim))
                c_in = spec.expansion * width
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(c_in, spec.num_classes)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError for an input this network cannot take, before any conv runs."""
        if x.dim() != 4:
            raise UsageError(f"{self.name} expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        if c != self.in_channels:
            raise UsageError(f"{self.name} expects {self.in_channels} input channels, got {c} "
                             f"(shape {tuple(x.shape)})")
        if h < self.min_side or w < self.min_side:
            raise UsageError(f"{self.name} needs H and W >= {self.min_side} (total stride "
                             f"{self.min_side}), got {h}x{w}")
        if self.training and b < 2:
            # The SK attention batch-normalises one pooled vector per sample; with one sample the
            # batch statistics are undefined and BatchNorm fails deep inside the first unit.
            raise UsageError(f"{self.name} in training mode needs batch >= 2 (SK attention uses "
                             "BatchNorm on pooled vectors); call .eval() for single-sample inference")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.classifier(self.flatten(self.pool(self.stages(self.stem(x)))))


SKNET50 = ResNetSpec(
    name="sknet50", family="sknet", input_size=(3, 224, 224),
    golden_params=27479784, golden_fvcore=4499892416,
    snapshot_counts=(("archlab", 4_482_731_616), ("paper-hook", 4_515_816_584),
                     ("paper-conv", 4_462_710_784)), reported=(("imagenet_top1_err", 20.79),),
)
