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
            raise ValueError(f"Transition cannot drop branches ({n_in} -> {len(out_channels)})")
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


class Fusion(nn.Module):
    """Output i = ReLU(sum_j f_ij(x_j)): f_ii identity; j > i: 1x1 ConvBN + nearest upsample;
    j < i: i-j stride-2 conv steps (ReLU after all but the last, the last maps to C_i).

    duplicate_branch0=True reproduces the released Lite/Dite code: the sum starts from branch 0's term
    and the loop adds every j, 0 included, so branch 0 enters every output twice and its
    downsampling path runs twice. False gives the clean sum (HRNet's form).
    num_outputs < len(channels) keeps only the highest branches (HRNet's last module keeps one).
    """

    def __init__(self, channels: Sequence[int], *, step: str = "dwsep", duplicate_branch0: bool = False,
                 num_outputs: int | None = None):
        super().__init__()
        make = choose(STEPS, step, "conv step")
        n = len(channels)
        num_outputs = n if num_outputs is None else num_outputs
        if not 1 <= num_outputs <= n:
            raise ValueError(f"Fusion of {n} branches cannot give {num_outputs} outputs")
        self.duplicate_branch0 = bool(duplicate_branch0)
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
        self.relu = nn.ReLU()  # one module shared by every output

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = []
        for row in self.paths:
            y = row[0](xs[0])
            # the released light nets start from branch 0's term AND loop over j = 0 again
            for j in range(0 if self.duplicate_branch0 else 1, len(xs)):
                y = y + row[j](xs[j])
            outs.append(self.relu(y))
        return outs

    def extra_repr(self) -> str:
        return f"duplicate_branch0={self.duplicate_branch0}"


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
