"""One multi-resolution network for HRNet (Sun et al., CVPR 2019), Lite-HRNet (Yu et al., CVPR 2021),
naive Lite-HRNet and Dite-HRNet (Li et al., IJCAI 2022), configured by a frozen HRSpec.

Layout: stem (to 1/4) [-> stage-1 Bottlenecks, HRNet] -> stages, each a Transition and num_modules
modules (blocks on every branch, then Fusion) -> [iterative head] -> [neck] -> 1x1 keypoint head on
the highest-resolution branch, so the output is (B, K, H/4, W/4).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.utils.checkpoint
from torch import nn

from ..common import UsageError
from ..blocks.ccw import CONTEXT, SKIP, SPATIAL, WEIGHTING, CCWBlock
from ..blocks.context import POOLS
from ..blocks.conv import STEPS, choose
from ..blocks.fusion import FUSIONS, Fusion, IterativeHead, Transition
from ..blocks.residual import BASIC_GATES, BASIC_SPATIAL, BasicBlock, Bottleneck, Parallel, ShuffleUnit
from ..blocks.stems import DGCStem, HRNetStem, LiteStem
from ..blocks.strip import MPM
from .spec import ModelSpec

_PER_BRANCH = ("num_kernels", "split_groups", "gcm_reduction")


@dataclass(frozen=True)
class HRSpec(ModelSpec):
    """A multi-resolution pose net. Per-branch settings are tuples indexed by branch (0 = 1/4)."""
    in_channels: int = 3
    num_keypoints: int = 17  # 17 COCO, 16 MPII
    stem: str = "lite"  # STEMS: hrnet | lite | dgc
    stem_channels: int = 32
    stem_kernels: int = 4  # DKA kernels of the DGC stem's convs
    stage1_blocks: int = 0  # HRNet's Bottlenecks (64 -> 256) before the first transition; 0: none
    channels: tuple[int, ...] = (40, 80, 160, 320)  # branch widths; one stage per branch after the first
    num_modules: tuple[int, ...] = (2, 4, 2)  # modules per stage
    num_blocks: int = 2  # blocks per module (per branch for single-branch blocks)
    block: str = "ccw"  # BLOCKS: basic (HRNet) | shuffle (naive) | ccw (Lite CCW / Dite DMC)
    step: str = "dwsep"  # conv step of transitions and fusion: conv3x3 | dwsep
    context: str = "crw"  # ccw: crw | dcm | none
    context_reduction: int = 8  # sum C / r in CRW and DCM
    dcm_pool: str = "released"  # DCM's attention pooling: released (the authors' code) | per_patch
    spatial: str = "dw3"  # ccw: dw3 | dsc | sk; basic: conv3x3 | sk (its first 3x3)
    num_kernels: tuple[int, ...] = (1, 1, 1, 1)  # DKA kernels of the spatial conv, per branch
    split_groups: tuple[int, ...] = (1, 1, 1, 1)  # DSC groups, per branch
    dynamic: bool = True  # False: every DKA conv (block and stem) is built static, K = 1
    weighting: str = "sw"  # ccw: sw | gcm | spm | none; basic: none | spm (a gate on its output)
    sw_reduction: int = 4
    gcm_reduction: tuple[int, ...] = (4, 4, 8, 8)  # per branch; the DGC stem uses entry 0
    skip: str = "identity"  # ccw: identity | softgate (the untouched half x1)
    fusion: str = "released"  # blocks.fusion.FUSIONS: released | released_inplace_relu | clean
    recompute: str = "none"  # RECOMPUTE: none | blocks (activation checkpointing: with_cp); not
    # named "checkpoint", which build() takes for a weights file
    head: str = "iterative"  # iterative (all branches kept) | none (last module outputs branch 0)
    neck: str = "none"  # none | mpm: applied to the 1/4 features the keypoint head reads

    def __post_init__(self):
        for name in ("channels", "num_modules") + _PER_BRANCH:  # lists from users become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        n = len(self.channels)
        if n != len(self.num_modules) + 1:
            raise UsageError(f"{self.name}: channels {self.channels} need one more entry than "
                             f"num_modules {self.num_modules} (stage s has s + 1 branches)")
        for name in _PER_BRANCH:
            if len(getattr(self, name)) < n:
                raise UsageError(f"{self.name}: {name} needs one entry per branch ({n}), got "
                                 f"{getattr(self, name)}")
        ints = ("in_channels", "num_keypoints", "stem_channels", "stem_kernels", "num_blocks")
        for name in ints + ("channels", "num_modules"):
            v = getattr(self, name)
            if any(not isinstance(x, int) or x < 1 for x in (v if isinstance(v, tuple) else (v,))):
                raise UsageError(f"{self.name}: {name} must be positive integers, got {v!r}")

    def build(self) -> nn.Module:
        return HRNet(self)

    def choices(self, field: str) -> dict | None:
        return _CHOICES.get(field)

    def output_shape(self, batch: int, input_size=None) -> tuple[int, ...]:
        _, h, w = input_size or self.input_size
        return (batch, self.num_keypoints, h // 4, w // 4)  # heatmaps at 1/4


STEMS = {
    "hrnet": lambda s: HRNetStem(s.in_channels, s.stem_channels),
    "lite": lambda s: LiteStem(s.in_channels, s.stem_channels),
    "dgc": lambda s: DGCStem(s.in_channels, s.stem_channels, num_kernels=_kernels(s, s.stem_kernels),
                             gcm_reduction=s.gcm_reduction[0]),
}
# A module's blocks: (spec, branch widths) -> multi-branch block (list in, list out).
BLOCKS = {
    "basic": lambda s, cs: Parallel(BasicBlock(c, spatial=s.spatial, gate=s.weighting) for c in cs),
    "shuffle": lambda s, cs: Parallel(ShuffleUnit(c) for c in cs),
    "ccw": lambda s, cs: CCWBlock(
        cs, context=s.context, context_reduction=s.context_reduction, dcm_pool=s.dcm_pool,
        spatial=s.spatial, num_kernels=tuple(_kernels(s, k) for k in s.num_kernels),
        split_groups=s.split_groups, weighting=s.weighting, sw_reduction=s.sw_reduction,
        gcm_reduction=s.gcm_reduction, skip=s.skip),
}
# Choices a block type has no slot for must stay at these values (a silent no-op would mislead).
FIXED = {
    "basic": {"context": "none", "skip": "identity"},
    "shuffle": {"context": "none", "spatial": "dw3", "weighting": "none", "skip": "identity"},
    "ccw": {},
}
HEADS = {"iterative": IterativeHead, "none": None}
NECKS = {"none": lambda c: nn.Identity(), "mpm": MPM}


def _kernels(spec: HRSpec, k: int) -> int:
    return k if spec.dynamic else 1


RECOMPUTE = {"none": False, "blocks": True}
# Every name a choice field takes with some block (spatial and weighting: ccw's or basic's), read
# off the build tables themselves: a name outside these fails with any block, so a grid or a model
# name giving it is refused before anything is built.
_CHOICES = {"stem": STEMS, "block": BLOCKS, "step": STEPS, "context": CONTEXT, "dcm_pool": POOLS,
            "spatial": {**SPATIAL, **BASIC_SPATIAL}, "weighting": {**WEIGHTING, **BASIC_GATES},
            "skip": SKIP, "fusion": FUSIONS, "recompute": RECOMPUTE, "head": HEADS, "neck": NECKS}


class Blocks(nn.Sequential):
    """The multi-branch blocks of a module, run in turn. With `recompute`, each block is
    activation-checkpointed while training (Lite-HRNet's with_cp): its activations are not kept
    for the backward pass but recomputed there, trading compute for memory."""

    def __init__(self, *blocks: nn.Module, recompute: bool = False):
        super().__init__(*blocks)
        self.recompute = recompute

    def forward(self, xs):
        for block in self:
            if self.recompute and self.training and torch.is_grad_enabled():
                xs = torch.utils.checkpoint.checkpoint(block, xs, use_reentrant=False)
            else:
                xs = block(xs)
        return xs

    def extra_repr(self) -> str:
        return "recompute=blocks" if self.recompute else ""


class HRModule(nn.Module):
    """One multi-resolution module: `blocks` (a Sequential of multi-branch blocks), then `fuse`."""

    def __init__(self, blocks: Blocks, fuse: Fusion):
        super().__init__()
        self.blocks, self.fuse = blocks, fuse

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.fuse(self.blocks(xs))


class Stage(nn.Module):
    """A transition to this stage's branches, then its modules."""

    def __init__(self, transition: Transition, body: nn.Sequential):
        super().__init__()
        self.transition, self.body = transition, body

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.body(self.transition(xs))


class HRNet(nn.Module):
    """(B, in_channels, H, W) -> (B, num_keypoints, H/4, W/4) heatmaps; H and W multiples of 32."""

    def __init__(self, spec: HRSpec):
        super().__init__()
        self.spec = spec
        make_block = choose(BLOCKS, spec.block, "block")
        for field, value in FIXED[spec.block].items():
            if getattr(spec, field) != value:
                raise UsageError(f"{spec.name}: block '{spec.block}' has no {field} choice "
                                 f"({field} must be '{value}', got '{getattr(spec, field)}')")
        if spec.context != "dcm" and spec.dcm_pool != HRSpec.dcm_pool:
            raise UsageError(f"{spec.name}: dcm_pool is a choice of context 'dcm' only "
                             f"(context is '{spec.context}')")
        head_cls = choose(HEADS, spec.head, "head")
        recompute = choose(RECOMPUTE, spec.recompute, "recompute")
        make_neck = choose(NECKS, spec.neck, "neck")
        self.stem = choose(STEMS, spec.stem, "stem")(spec)
        prev = [spec.stem_channels]
        if spec.stage1_blocks:
            planes = spec.stem_channels  # 4 Bottlenecks at the stem's width, x4 expansion
            self.layer1 = nn.Sequential(*(Bottleneck(spec.stem_channels if i == 0 else 4 * planes, planes)
                                          for i in range(spec.stage1_blocks)))
            prev = [4 * planes]
        stages = []
        for s, num_modules in enumerate(spec.num_modules):
            cs = spec.channels[:s + 2]
            last_stage = s == len(spec.num_modules) - 1
            modules = []
            for m in range(num_modules):
                keep_one = last_stage and m == num_modules - 1 and head_cls is None
                blocks = Blocks(*(make_block(spec, cs) for _ in range(spec.num_blocks)),
                                recompute=recompute)
                fuse = Fusion(cs, step=spec.step, form=spec.fusion,
                              num_outputs=1 if keep_one else None)
                modules.append(HRModule(blocks, fuse))
            stages.append(Stage(Transition(prev, cs, step=spec.step), nn.Sequential(*modules)))
            prev = cs
        self.stages = nn.Sequential(*stages)
        self.head = head_cls(spec.channels) if head_cls is not None else nn.Identity()
        self.neck = make_neck(spec.channels[0])
        self.final = nn.Conv2d(spec.channels[0], spec.num_keypoints, 1, bias=True)
        self.stride = 2 ** (len(spec.channels) + 1)  # 1/4 at branch 0, halved per further branch

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError for an input this network cannot take, before any conv runs."""
        name, c_in = self.spec.name, self.spec.in_channels
        if x.dim() != 4:
            raise UsageError(f"{name} expects a (B, {c_in}, H, W) tensor, got shape {tuple(x.shape)}")
        _, c, h, w = (int(v) for v in x.shape)
        if c != c_in:
            raise UsageError(f"{name} expects {c_in} input channels, got {c} (shape {tuple(x.shape)})")
        if h % self.stride or w % self.stride or h == 0 or w == 0:
            raise UsageError(f"{name} needs H and W divisible by {self.stride} (its lowest branch is "
                             f"at 1/{self.stride}), got {h}x{w}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.stem(x)
        if hasattr(self, "layer1"):
            x = self.layer1(x)
        xs = self.stages([x])
        return self.final(self.neck(self.head(xs)[0]))
