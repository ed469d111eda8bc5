"""Convolution steps every model here is made of.

HRNet (Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation",
CVPR 2019), Lite-HRNet (Yu et al., CVPR 2021) and Dite-HRNet (Li et al., IJCAI 2022) all build from
Conv2d (no bias) + BatchNorm2d, sometimes followed by an activation; the light nets replace a full
3x3 by a depthwise 3x3 + BN and a pointwise 1x1 + BN, and mix the halves of a split with a channel
shuffle (ShuffleNetV2).

Every conv, BN and activation is its own nn.Module, because the Lite/Dite papers' FLOP figures come
from a counter that hooks leaf modules: an activation written as a function would vanish from it.
"""
from __future__ import annotations

import difflib
from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

from ..common import UsageError

ACTIVATIONS = {"none": None, "relu": nn.ReLU, "relu6": nn.ReLU6, "sigmoid": nn.Sigmoid}


def choose(table: dict, name: str, what: str):
    """Look `name` up in a build-time table; an unknown name lists the choices and the closest."""
    if isinstance(name, str) and name in table:
        return table[name]
    close = difflib.get_close_matches(str(name), [str(k) for k in table], n=1, cutoff=0.0)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UsageError(f"unknown {what} '{name}'{hint} (choices: {', '.join(map(str, table))})")


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def plain_conv(in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
               groups: int = 1) -> nn.Conv2d:
    """The default conv of a ConvBN: no bias, since the BN right after it has its own shift."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                     bias=False)


class ConvBN(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d (-> activation), children named conv, bn, act.

    Padding defaults to dilation * (k // 2), which keeps the size at stride 1. `conv_layer` builds the
    conv (same arguments as nn.Conv2d's first seven); archlab.blocks.dynamic passes a dynamic conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, groups: int = 1, *,
                 dilation=1, padding=None, act: str = "none",
                 conv_layer: Callable[..., nn.Module] = plain_conv):
        if in_channels < 1 or out_channels < 1:
            raise UsageError(f"ConvBN needs positive channels, got {in_channels}->{out_channels}")
        if in_channels % groups or out_channels % groups:
            raise UsageError(f"ConvBN {in_channels}->{out_channels}: channels must be divisible by "
                             f"groups ({groups})")
        ks, dil = _pair(kernel_size), _pair(dilation)
        if padding is None:
            padding = tuple(d * (k // 2) for k, d in zip(ks, dil))
        act_cls = choose(ACTIVATIONS, act, "activation")
        layers = OrderedDict(conv=conv_layer(in_channels, out_channels, ks, stride, padding, dil, groups),
                             bn=nn.BatchNorm2d(out_channels))
        if act_cls is not None:
            layers["act"] = act_cls()
        super().__init__(layers)


class DWSepConv(nn.Sequential):
    """Depthwise-separable conv step: dw kxk ConvBN (no activation) -> pointwise 1x1 ConvBN (+act).

    Lite-HRNet's transitions, fusion downsampling, stem and iterative head all use this form; the
    depthwise half has no activation, as in the authors' models.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, *,
                 act: str = "relu"):
        super().__init__(OrderedDict(
            depthwise=ConvBN(in_channels, in_channels, kernel_size, stride, groups=in_channels),
            pointwise=ConvBN(in_channels, out_channels, 1, act=act)))


def full_step(in_channels: int, out_channels: int, stride=1, *, act: str = "relu") -> nn.Module:
    """HRNet's conv step: one full 3x3 ConvBN (+act)."""
    return ConvBN(in_channels, out_channels, 3, stride, act=act)


def dwsep_step(in_channels: int, out_channels: int, stride=1, *, act: str = "relu") -> nn.Module:
    """Lite/Dite-HRNet's conv step: dw 3x3 ConvBN -> 1x1 ConvBN (+act)."""
    return DWSepConv(in_channels, out_channels, 3, stride, act=act)


STEPS = {"conv3x3": full_step, "dwsep": dwsep_step}


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: interleave `groups` equal channel groups (a view + copy)."""
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)  # (B, g, C/g, H, W)
    return x.transpose(1, 2).reshape(b, c, h, w)  # (B, C/g, g, H, W) -> (B, C, H, W)


def check_split(channels: int, parts: int, what: str) -> None:
    """Blocks that chunk channels need an even split; say so instead of failing inside torch.cat."""
    if channels < parts or channels % parts:
        raise UsageError(f"{what} splits its {channels} channels into {parts} equal parts; "
                         f"use a multiple of {parts}")
