"""Multi-resolution plumbing shared by every HR net: transitions, fusion, iterative head.

HRNet (Sun et al., CVPR 2019) keeps parallel branches at 1/4, 1/8, 1/16, 1/32 and exchanges
information between them after every module; Lite-HRNet (Yu et al., CVPR 2021) and Dite-HRNet
(Li et al., IJCAI 2022) keep the layout and make each conv step depthwise-separable. The `step`
option names the conv step ("conv3x3" for HRNet, "dwsep" for the light nets, see conv.STEPS).

Upsampling in fusion is an nn.Upsample module and the final ReLU is ONE nn.ReLU per fusion, shared
by all outputs, as in the authors' models: leaf-module counters see them that way.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..common import UsageError
from .conv import STEPS, ConvBN, DWSepConv, choose


class Transition(nn.Module):
    """Stage entry: resize widths of existing branches, open new lower-resolution branches.

    A branch whose width changes gets one stride-1 conv step + ReLU (width unchanged: identity); a
    new branch i comes from the previous stage's last branch through stride-2 steps + ReLU, all but
    the last keeping the width.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int], *, step: str = "dwsep"):
        super().__init__()
        make = choose(STEPS, step, "conv step")
        n_in = len(in_channels)
        if len(out_channels) < n_in:
            raise UsageError(f"Transition cannot drop branches ({n_in} -> {len(out_channels)})")
        branches = []
        for i, c_out in enumerate(out_channels):
            if i < n_in:
                same = in_channels[i] == c_out
                branches.append(nn.Identity() if same else make(in_channels[i], c_out, 1, act="relu"))
            else:
                c = in_channels[-1]
                extra = i - n_in  # steps before the last one, at the source width
                steps = [make(c, c, 2, act="relu") for _ in range(extra)]
                branches.append(nn.Sequential(*steps, make(c, c_out, 2, act="relu")))
        self.branches = nn.ModuleList(branches)
        self.num_inputs = n_in

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [branch(xs[i] if i < self.num_inputs else xs[-1]) for i, branch in enumerate(self.branches)]


# Fusion forms: name -> (sums in place into branch 0's tensor as the released code does,
# fusion ReLU in place). HRNet's code and the clean form sum out of place.
FUSIONS = {
    "clean": (False, False),
    "released": (True, False),  # Lite-HRNet's released code
    "released_inplace_relu": (True, True),  # Dite-HRNet's released code: its fusion ReLU is in place too
}


class Fusion(nn.Module):
    """Output i = ReLU(sum_j f_ij(x_j)): f_ii identity; j > i: 1x1 ConvBN + nearest upsample;
    j < i: i-j stride-2 conv steps (ReLU after all but the last, the last maps to C_i).

    form="clean": each branch's term once, added out of place (HRNet's fusion).
    form="released" (Lite-HRNet's released code): output i starts from x_0 (i = 0) or f_i0(x_0)
    and the loop adds every j from 0 in place, so branch 0 enters every output twice (for i > 0 its
    downsampling path runs twice); for i = 0 the sum is accumulated INTO x_0, so every later output
    reads the fused output 0 (before its ReLU) through f_i0, not branch 0's block output.
    form="released_inplace_relu" (Dite-HRNet's): the same with the ReLU in place, so later outputs
    read fused output 0 after its ReLU. The released forms overwrite the caller's x_0.
    num_outputs < len(channels) keeps only the highest branches (HRNet's last module keeps one).
    """

    def __init__(self, channels: Sequence[int], *, step: str = "dwsep", form: str = "clean",
                 num_outputs: int | None = None):
        super().__init__()
        make = choose(STEPS, step, "conv step")
        self.in_place, relu_in_place = choose(FUSIONS, form, "fusion form")
        self.form = form
        n = len(channels)
        num_outputs = n if num_outputs is None else num_outputs
        if not 1 <= num_outputs <= n:
            raise UsageError(f"Fusion of {n} branches cannot give {num_outputs} outputs")
        self.paths = nn.ModuleList()
        for i in range(num_outputs):
            row = nn.ModuleList()
            for j, c in enumerate(channels):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:
                    row.append(nn.Sequential(ConvBN(c, channels[i], 1),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                else:
                    steps = [make(c, c, 2, act="relu") for _ in range(i - j - 1)]
                    row.append(nn.Sequential(*steps, make(c, channels[i], 2, act="none")))
            self.paths.append(row)
        self.relu = nn.ReLU(inplace=relu_in_place)  # one module shared by every output

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self._released(xs) if self.in_place else self._clean(xs)

    def _clean(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = []
        for row in self.paths:
            y = row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + row[j](xs[j])
            outs.append(self.relu(y))
        return outs

    def _released(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = []
        for i, row in enumerate(self.paths):
            # for i = 0, y IS xs[0] (row[0] is the identity): the += below write into branch 0
            y = row[0](xs[0])
            for j, x in enumerate(xs):
                y += row[j](x)
            outs.append(self.relu(y))
        return outs

    def extra_repr(self) -> str:
        return f"form={self.form}"


class IterativeHead(nn.Module):
    """Lite-HRNet's head: from the lowest branch up, s_i = x_i + bilinear-up(prev); prev = DWSep(s_i),
    mapping each branch to the next higher branch's width (the highest keeps its own).

    Returns the refined list, highest resolution first.
    """

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        rev = list(channels)[::-1]
        outs = rev[1:] + rev[-1:]
        self.projects = nn.ModuleList(DWSepConv(c_in, c_out, 3, act="relu") for c_in, c_out in zip(rev, outs))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        ys, prev = [], None
        for project, x in zip(self.projects, xs[::-1]):
            if prev is not None:
                x = x + F.interpolate(prev, size=x.shape[-2:], mode="bilinear", align_corners=True)
            prev = project(x)
            ys.append(prev)
        return ys[::-1]
