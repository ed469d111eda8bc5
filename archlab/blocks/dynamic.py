"""Dynamic convolutions of Dite-HRNet (Li et al., "Dite-HRNet: Dynamic Lightweight High-Resolution
Network for Human Pose Estimation", IJCAI 2022).

- Dynamic kernel aggregation (DKA): a conv stores K kernels; a small attention branch looks at the
  input and gives every sample its own kernel, sum_k a_k W_k.
- Dynamic split convolution (DSC): the channels are split into G parts and part i gets a depthwise
  (3 + 2i)x(3 + 2i) DKA conv, so one layer mixes several receptive fields.

Module layout is chosen for counting: the attention (KernelAttention) and the kernels
(KernelAggregation) are siblings inside DynamicConv2d, so the kernel holder is a LEAF module exposing
nn.Conv2d's geometry attributes; a leaf-module hook counter can then count it as a conv at its static
shape, the way the authors' published FLOP figures do.
"""
from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..common import UsageError
from .conv import ConvBN, _pair, channel_shuffle, plain_conv


class KernelAttention(nn.Module):
    """Per-sample kernel weights, (B, Cin, H, W) -> (B, K) in (0, 1).

    Sigmoid(Conv1x1(M->K, bias)(ReLU(BN(Conv1x1(Cin->M, no bias)(GAP(x)))))), M = Cin // reduction,
    or M = K for an RGB input (3 // 4 would be 0).
    """

    def __init__(self, in_channels: int, num_kernels: int, *, reduction: int = 4):
        super().__init__()
        mid = num_kernels if in_channels == 3 else in_channels // reduction
        if mid < 1:
            raise UsageError(f"KernelAttention: {in_channels} channels // reduction {reduction} is 0")
        self.pool = nn.AdaptiveAvgPool2d(1)  # a module, not .mean(): counters must see it
        self.reduce = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn = nn.BatchNorm2d(mid)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(mid, num_kernels, 1, bias=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.expand(self.relu(self.bn(self.reduce(self.pool(x)))))  # (B, K, 1, 1)
        return self.sigmoid(a.flatten(1))  # (B, K)


class KernelAggregation(nn.Module):
    """K stored kernels mixed per sample by given weights, then run as ONE grouped conv.

    A leaf module with nn.Conv2d's geometry (in_channels, out_channels, kernel_size, stride, padding,
    dilation, groups) plus num_kernels. forward(x, attention) with attention (B, K). No bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, *, num_kernels: int = 4):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise UsageError(f"KernelAggregation {in_channels}->{out_channels}: channels must be "
                             f"divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.num_kernels = num_kernels
        self.weight = nn.Parameter(torch.empty(num_kernels, out_channels, in_channels // groups,
                                               *self.kernel_size))  # (K, Cout, Cin/g, kh, kw)
        for w in self.weight.data:  # each kernel initialised like an nn.Conv2d's
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))

    def forward(self, x: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # A real matmul (B, K) @ (K, N): counters see the kernel mixing as B*K*N multiply-adds.
        mixed = torch.mm(attention, self.weight.view(self.num_kernels, -1))  # (B, Cout*Cin/g*kh*kw)
        mixed = mixed.view(b * self.out_channels, c // self.groups, *self.kernel_size)
        # Samples become groups of one conv: (1, B*Cin, H, W) with groups g*B, each its own kernel.
        y = F.conv2d(x.reshape(1, b * c, h, w), mixed, None, self.stride, self.padding, self.dilation,
                     self.groups * b)  # (1, B*Cout, H', W')
        return y.view(b, self.out_channels, y.shape[-2], y.shape[-1])

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
                f"num_kernels={self.num_kernels}")


class DynamicConv2d(nn.Module):
    """DKA conv: attention (KernelAttention) and kernels (KernelAggregation), siblings."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, *, num_kernels: int = 4, reduction: int = 4):
        super().__init__()
        self.attention = KernelAttention(in_channels, num_kernels, reduction=reduction)
        self.aggregate = KernelAggregation(in_channels, out_channels, kernel_size, stride, padding,
                                           dilation, groups, num_kernels=num_kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aggregate(x, self.attention(x))


def dynamic_conv2d(in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                   groups: int = 1, *, num_kernels: int = 4, reduction: int = 4) -> nn.Module:
    """A DKA conv, or a plain bias-free nn.Conv2d when num_kernels is 1 (nothing to aggregate)."""
    if not isinstance(num_kernels, int) or num_kernels < 1:
        raise UsageError(f"num_kernels must be a positive int, got {num_kernels!r}")
    if num_kernels == 1:
        return plain_conv(in_channels, out_channels, kernel_size, stride, padding, dilation, groups)
    return DynamicConv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         num_kernels=num_kernels, reduction=reduction)


def dynamic_conv_bn(in_channels: int, out_channels: int, kernel_size=3, stride=1, groups: int = 1, *,
                    num_kernels: int = 4, act: str = "none", padding=None) -> ConvBN:
    """ConvBN whose conv is a DKA conv with `num_kernels` kernels (plain when 1)."""
    return ConvBN(in_channels, out_channels, kernel_size, stride, groups, act=act, padding=padding,
                  conv_layer=partial(dynamic_conv2d, num_kernels=num_kernels))


def split_sizes(channels: int, parts: int) -> list[int]:
    """Equal parts, the remainder to part 0 (the authors' rule)."""
    sizes = [channels // parts] * parts
    sizes[0] += channels - sum(sizes)
    return sizes


class DynamicSplitConv(nn.Module):
    """DSC: split channels into `groups` parts; part i -> dw (3+2i)x(3+2i) DKA conv + BN; concat;
    shuffle(groups) so the next layer's parts mix scales. channels -> channels."""

    def __init__(self, channels: int, *, groups: int = 1, num_kernels: int = 4, stride=1):
        super().__init__()
        if groups < 1 or channels < groups:
            raise UsageError(f"DynamicSplitConv: cannot split {channels} channels into {groups} groups")
        if groups > 1 and channels % groups:  # the closing shuffle needs equal groups
            raise UsageError(f"DynamicSplitConv: {channels} channels do not shuffle in {groups} groups")
        self.groups = groups
        self.sizes = split_sizes(channels, groups)
        self.convs = nn.ModuleList(
            dynamic_conv_bn(c, c, 3 + 2 * i, stride, groups=c, num_kernels=num_kernels)
            for i, c in enumerate(self.sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups == 1:  # no split, no shuffle: one dw 3x3
            return self.convs[0](x)
        parts = torch.split(x, self.sizes, dim=1)
        out = torch.cat([conv(p) for conv, p in zip(self.convs, parts)], dim=1)
        return channel_shuffle(out, self.groups)
