"""Selective-kernel convolution (Li et al., "Selective Kernel Networks", CVPR 2019).

Two convolution paths with different receptive fields are summed, squeezed to a short vector, and
a softmax over the paths (per channel) decides how much of each path every channel keeps.

Two forms, chosen by name at build time:
- "dilated": the authors' released SKNet-50 (implus/SKNet): a 3x3 and a dilation-2 3x3 path, and an
  attention of 1x1 convs: Conv1x1(C->d, no bias) + BN + ReLU, then Conv1x1(d->2C, no bias).
- "3x3+5x5": the common PyTorch re-telling (pppLang/SKNet): a 3x3 and a 5x5 path, and an attention of
  Linear layers as that code has them: Linear(C->d, bias) straight into Linear(d->2C, bias), with no
  BN or activation between. Its path convs carry a bias before BN; we keep ConvBN (no bias) for both
  forms so the forms differ only in kernels and attention, and a bias before BN is dead weight anyway.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..common import UsageError
from .conv import ConvBN, choose


@dataclass(frozen=True)
class _PathForm:
    kernels: tuple[tuple[int, int], ...]  # (kernel size, dilation) per path
    linear_attention: bool  # the re-telling's Linear attention instead of the authors' 1x1 convs


SK_PATHS = {
    "dilated": _PathForm(kernels=((3, 1), (3, 2)), linear_attention=False),
    "3x3+5x5": _PathForm(kernels=((3, 1), (5, 1)), linear_attention=True),
}


class SKConv(nn.Module):
    """Selective-kernel conv, channels -> channels; `groups=channels` gives depthwise paths."""

    def __init__(self, channels: int, *, stride: int = 1, groups: int = 32, reduction: int = 16,
                 min_dim: int = 32, paths: str = "dilated"):
        super().__init__()
        form = choose(SK_PATHS, paths, "SK path form")
        if channels <= 0 or groups <= 0 or channels % groups:
            raise UsageError(f"SKConv: channels ({channels}) must be a positive multiple of groups ({groups})")
        if reduction <= 0 or min_dim <= 0:
            raise UsageError(f"SKConv: reduction ({reduction}) and min_dim ({min_dim}) must be positive")
        self.channels, self.form = channels, paths
        d = max(channels // reduction, min_dim)
        self.paths = nn.ModuleList(
            ConvBN(channels, channels, k, stride, groups, dilation=dil, act="relu")
            for k, dil in form.kernels)
        # AdaptiveAvgPool2d rather than .mean(): counters (fvcore, module hooks) see it.
        self.pool = nn.AdaptiveAvgPool2d(1)
        n = len(form.kernels)
        if form.linear_attention:
            self.squeeze = nn.Sequential(nn.Flatten(1), nn.Linear(channels, d))
            self.select = nn.Linear(d, n * channels)
        else:
            self.squeeze = ConvBN(channels, d, 1, act="relu")
            self.select = nn.Conv2d(d, n * channels, 1, bias=False)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] < 2 and isinstance(self.squeeze, ConvBN):
            # The attention batch-normalises one pooled vector per sample: batch statistics need 2.
            raise UsageError("SKConv in training mode needs batch >= 2 (its attention applies "
                             "BatchNorm to pooled vectors); call .eval() for single-sample inference")
        feats = [path(x) for path in self.paths]
        u = feats[0]
        for f in feats[1:]:
            u = u + f
        logits = self.select(self.squeeze(self.pool(u)))
        attn = self.softmax(logits.view(x.shape[0], len(feats), self.channels, 1, 1))  # (B, M, C, 1, 1)
        out = attn[:, 0] * feats[0]
        for i in range(1, len(feats)):
            out = out + attn[:, i] * feats[i]
        return out

    def extra_repr(self) -> str:
        return f"form={self.form!r}"
