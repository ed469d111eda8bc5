"""The authors' released checkpoints -> archlab's models: their key layouts, one rule set per family.

- mmpose, Lite-HRNet and Dite-HRNet: {"state_dict": {...}, "meta": ...}, the backbone's keys under
  "backbone.", the 1x1 keypoint head under "keypoint_head.final_layer.";
- hrnet, the HRNet repository's PoseHighResolutionNet: a plain state_dict, head "final_layer.".
A key is renamed by the explicit rules of the model's family, never matched by order or shape. The
only tensors a layout may leave out are those the released code builds and never runs (Dite's DCM
mask conv of the lowest branch). archlab.models.loading reads the files and loads them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable


# Index translations for named regex groups: the released code's flat Sequentials become archlab's
# named children, and HRNet counts its stages from 2 (stage 1 is `layer1`).
_DWSEP = ("depthwise.conv", "depthwise.bn", "pointwise.conv", "pointwise.bn")
_TRANSLATE = {
    "dwsep": lambda v: _DWSEP[int(v)],  # [dw conv, BN, 1x1 conv, BN(, ReLU)]
    "convbn": lambda v: ("conv", "bn")[int(v)],  # [conv, BN(, ReLU or Upsample)]
    "hrstage": lambda v: int(v) - 2,  # HRNet "stage2" is archlab's stages.0
    "hrtrans": lambda v: int(v) - 1,  # and "transition1" leads into it
}


@dataclass(frozen=True)
class Rule:
    """Rename the first part of a key that `pattern` matches to `to`, a str.format template over
    the pattern's named groups (groups named in _TRANSLATE are translated first)."""
    pattern: str
    to: str

    def __call__(self, key: str) -> str:
        def repl(m: re.Match) -> str:
            return self.to.format(**{k: _TRANSLATE.get(k, str)(v) for k, v in m.groupdict().items()})
        return re.sub(self.pattern, repl, key, count=1)


_PARAM = r"(?=[a-z])"  # the next component is a tensor name (weight, running_mean, ...), not an index
_FUSE = r"^stage(?P<s>\d+)\.(?P<m>\d+)\.fuse_layers\.(?P<i>\d+)\.(?P<j>\d+)\."  # output i, input j
_HR_FUSE = r"^stage(?P<hrstage>\d+)\.(?P<m>\d+)\.fuse_layers\.(?P<i>\d+)\.(?P<j>\d+)\."

# The multi-resolution skeleton as mmpose's LiteHRNet names it (Lite and Dite share it).
_MMPOSE_SKELETON = (
    Rule(r"^backbone\.", ""),
    Rule(r"^keypoint_head\.final_layer\.", "final."),
    Rule(r"^stem\.branch1\.", "stem.branch_a."),
    # a new branch is a Sequential of conv steps; a width change is one bare step
    Rule(r"^transition(?P<s>\d+)\.(?P<b>\d+)\.(?P<k>\d+)\.(?P<dwsep>[0-3])\." + _PARAM,
         "stages.{s}.transition.branches.{b}.{k}.{dwsep}."),
    Rule(r"^transition(?P<s>\d+)\.(?P<b>\d+)\.(?P<dwsep>[0-3])\." + _PARAM,
         "stages.{s}.transition.branches.{b}.{dwsep}."),
    Rule(r"^stage(?P<s>\d+)\.(?P<m>\d+)\.layers\.(?P<k>\d+)\.", "stages.{s}.body.{m}.blocks.{k}."),
    # fusion: lower -> higher resolution is [1x1 conv, BN, Upsample]; higher -> lower, conv steps
    Rule(_FUSE + r"(?P<convbn>[01])\." + _PARAM, "stages.{s}.body.{m}.fuse.paths.{i}.{j}.0.{convbn}."),
    Rule(_FUSE + r"(?P<k>\d+)\.(?P<dwsep>[0-3])\." + _PARAM,
         "stages.{s}.body.{m}.fuse.paths.{i}.{j}.{k}.{dwsep}."),
    Rule(r"^head_layer\.projects\.(?P<k>\d+)\.depthwise_conv\.", "head.projects.{k}.depthwise."),
    Rule(r"^head_layer\.projects\.(?P<k>\d+)\.pointwise_conv\.", "head.projects.{k}.pointwise."),
)

LITE_RULES = _MMPOSE_SKELETON + (
    Rule(r"^stem\.expand_conv\.", "stem.branch_b.0."),
    Rule(r"^stem\.depthwise_conv\.", "stem.branch_b.1."),
    Rule(r"^stem\.linear_conv\.", "stem.branch_b.2."),
    Rule(r"\.cross_resolution_weighting\.conv1\.", ".context.reduce."),
    Rule(r"\.cross_resolution_weighting\.conv2\.", ".context.expand."),
    Rule(r"\.depthwise_convs\.", ".spatial."),
    Rule(r"\.spatial_weighting\.(?P<b>\d+)\.conv1\.conv\.", ".weighting.{b}.reduce."),
    Rule(r"\.spatial_weighting\.(?P<b>\d+)\.conv2\.conv\.", ".weighting.{b}.expand."),
)

DITE_RULES = _MMPOSE_SKELETON + (
    Rule(r"^stem\.branch2\.", "stem.branch_b."),
    Rule(r"\.dcm\.conv_mask\.", ".context.masks."),
    Rule(r"\.dcm\.", ".context."),
    Rule(r"\.gcm\.", ".weighting."),
    Rule(r"\.conv_mask\.", ".mask."),  # GCM's
    Rule(r"\.channel_attention\.0\.", ".reduce.conv."),  # [conv, BN, ReLU, conv, Sigmoid]
    Rule(r"\.channel_attention\.1\.", ".reduce.bn."),
    Rule(r"\.channel_attention\.3\.", ".expand."),
    Rule(r"(?P<block>\.blocks\.\d+)\.conv\.(?P<b>\d+)\.conv\.(?P<g>\d+)\.", "{block}.spatial.{b}.convs.{g}."),
    Rule(r"\.conv\.attention\.conv1\.", ".conv.attention.reduce."),
    Rule(r"\.conv\.attention\.conv2\.", ".conv.attention.expand."),
    Rule(r"\.conv\.aggregation\.", ".conv.aggregate."),
)

HRNET_RULES = (
    Rule(r"^conv1\.", "stem.0.conv."), Rule(r"^bn1\.", "stem.0.bn."),
    Rule(r"^conv2\.", "stem.1.conv."), Rule(r"^bn2\.", "stem.1.bn."),
    Rule(r"^layer1\.(?P<k>\d+)\.conv(?P<c>[123])\.", "layer1.{k}.conv{c}.conv."),
    Rule(r"^layer1\.(?P<k>\d+)\.bn(?P<c>[123])\.", "layer1.{k}.conv{c}.bn."),
    Rule(r"^layer1\.(?P<k>\d+)\.downsample\.(?P<convbn>[01])\.", "layer1.{k}.shortcut.{convbn}."),
    Rule(r"^transition(?P<hrtrans>\d+)\.(?P<b>\d+)\.(?P<k>\d+)\.(?P<convbn>[01])\." + _PARAM,
         "stages.{hrtrans}.transition.branches.{b}.{k}.{convbn}."),
    Rule(r"^transition(?P<hrtrans>\d+)\.(?P<b>\d+)\.(?P<convbn>[01])\." + _PARAM,
         "stages.{hrtrans}.transition.branches.{b}.{convbn}."),
    # blocks are stored per branch, then per block; archlab runs one multi-branch block at a time
    Rule(r"^stage(?P<hrstage>\d+)\.(?P<m>\d+)\.branches\.(?P<b>\d+)\.(?P<k>\d+)\.conv(?P<c>[12])\.",
         "stages.{hrstage}.body.{m}.blocks.{k}.{b}.conv{c}.conv."),
    Rule(r"^stage(?P<hrstage>\d+)\.(?P<m>\d+)\.branches\.(?P<b>\d+)\.(?P<k>\d+)\.bn(?P<c>[12])\.",
         "stages.{hrstage}.body.{m}.blocks.{k}.{b}.conv{c}.bn."),
    Rule(_HR_FUSE + r"(?P<convbn>[01])\." + _PARAM,
         "stages.{hrstage}.body.{m}.fuse.paths.{i}.{j}.0.{convbn}."),
    Rule(_HR_FUSE + r"(?P<k>\d+)\.(?P<convbn>[01])\." + _PARAM,
         "stages.{hrstage}.body.{m}.fuse.paths.{i}.{j}.{k}.{convbn}."),
    Rule(r"^final_layer\.", "final."),
)

_DITE_DEAD = re.compile(r"^backbone\.stage(?P<s>\d+)\.\d+\.layers\.\d+\.dcm\.conv_mask\.(?P<i>\d+)\.")


def _dite_dead(key: str) -> bool:
    """The DCM mask conv of a stage's lowest branch (stage s has s + 2 branches): built, never run."""
    m = _DITE_DEAD.match(key)
    return bool(m) and int(m["i"]) == int(m["s"]) + 1


@dataclass(frozen=True)
class Layout:
    format: str  # "mmpose" | "hrnet" | "archlab"
    what: str  # for messages
    rules: tuple[Rule, ...] = ()
    dead: Callable[[str], bool] | None = None  # keys the released code never uses
    dead_why: str = ""

    def rename(self, key: str) -> str:
        for rule in self.rules:
            key = rule(key)
        return key


ARCHLAB = Layout("archlab", "archlab state_dict")
LAYOUTS = {  # family -> the layout of its authors' released checkpoints
    "hrnet": Layout("hrnet", "HRNet-repository checkpoint", HRNET_RULES),
    "lite-hrnet": Layout("mmpose", "mmpose Lite-HRNet checkpoint", LITE_RULES),
    "dite-hrnet": Layout("mmpose", "mmpose Dite-HRNet checkpoint", DITE_RULES, _dite_dead,
                         "the DCM's conv_mask of each block's lowest branch, which the released "
                         "Dite-HRNet never runs"),
}
