"""Every named model: the published reference models and their design-choice variants (spec data,
registered in registry.py).

Reference models carry goldens, numbers that do not come from archlab: the exact parameter count
and fvcore total of the authors' released code (`golden_params`, `golden_fvcore`, batch 1, eval,
at `input_size`) and their reported accuracy. `snapshot_counts` are archlab's own counts under its
conventions, recorded when the model was added: they catch an unintended change, they do not show
that archlab is right (`python benchmarks/snapshots.py` prints them afresh).
Each variant is derived from its base by changing one choice (`spec.derive`), says what it changed
(`change`) and where in the module tree (`touches`).

Name grammar (get_spec, build, the CLI):

    NAME                       a registered model, e.g. "dite18"
    NAME@field=value[,...]     that model with settings changed, e.g. "dite18@context=crw",
                               "lite18@num_modules=3-8-3", "dite18@num_kernels=(1,1,1,1),dynamic=false"

Values parse by the field's type: ints; bools as true/false (yes/no, on/off, 1/0); tuples as
1-1-2-4, 1,1,2,4 or (1,1,2,4) (commas inside parentheses do not separate settings); anything
else is a string (a choice name such as crw, checked against the names the blocks take). Each
field is given once. `get_spec(name).settings()` lists the fields.
"""
from __future__ import annotations

import dataclasses

from .hrnet import HRSpec
from .registry import register
from .resnet import SKNET50

_POSE = (3, 256, 192)


def _snapshot(archlab: int, paper_hook: int, paper_conv: int) -> tuple[tuple[str, int], ...]:
    """archlab's own counts (a snapshot, see the module doc)."""
    return (("archlab", archlab), ("paper-hook", paper_hook), ("paper-conv", paper_conv))


HRNET_W32 = register(HRSpec(
    name="hrnet_w32", family="hrnet", input_size=_POSE, stem="hrnet", stem_channels=64,
    stage1_blocks=4, channels=(32, 64, 128, 256), num_modules=(1, 4, 3), num_blocks=4,
    block="basic", step="conv3x3", context="none", spatial="conv3x3", weighting="none",
    fusion="clean", head="none",
    golden_params=28_536_113, golden_fvcore=7_685_342_208,
    snapshot_counts=_snapshot(7_664_067_072, 7_700_742_528, 7_645_003_776),
    reported=(("coco_ap_256x192", 74.4), ("coco_ap_384x288", 75.8))))
HRNET_W48 = register(dataclasses.replace(
    HRNET_W32, name="hrnet_w48", channels=(48, 96, 192, 384),
    golden_params=63_595_745, golden_fvcore=15_745_844_736,
    snapshot_counts=_snapshot(15_717_176_064, 15_766_037_376, 15_691_825_152),
    reported=(("coco_ap_256x192", 75.1), ("coco_ap_384x288", 76.3))))

LITE18 = register(HRSpec(
    name="lite18", family="lite-hrnet", input_size=_POSE, stem="lite", stem_channels=32,
    channels=(40, 80, 160, 320), num_modules=(2, 4, 2), num_blocks=2, block="ccw", step="dwsep",
    context="crw", spatial="dw3", weighting="sw", fusion="released", head="iterative",
    golden_params=1_130_769, golden_fvcore=266_314_752,
    snapshot_counts=_snapshot(254_207_040, 215_202_112, 242_345_088),
    reported=(("coco_ap_256x192", 64.8), ("coco_ap_384x288", 67.6))))
LITE30 = register(dataclasses.replace(
    LITE18, name="lite30", num_modules=(3, 8, 3),
    golden_params=1_763_717, golden_fvcore=424_692_384,
    snapshot_counts=_snapshot(404_875_776, 334_703_864, 386_103_648),
    reported=(("coco_ap_256x192", 67.2), ("coco_ap_384x288", 70.4))))

# The authors' naive config feeds a 40-channel keypoint head (a crash); their published counts match
# the iterative head's 30-channel output read by a 30 -> K head.
NAIVE_LITE18 = register(dataclasses.replace(
    LITE18, name="naive_lite18", family="naive-lite-hrnet", channels=(30, 60, 120, 240),
    block="shuffle", context="none", weighting="none",
    golden_params=760_365, golden_fvcore=230_310_912,
    snapshot_counts=_snapshot(220_057_920, 204_217_152, 211_049_088), reported=(("coco_ap_256x192", 62.8),)))
WIDER_NAIVE_LITE18 = register(dataclasses.replace(
    NAIVE_LITE18, name="wider_naive_lite18", channels=(40, 80, 160, 320),
    golden_params=1_318_625, golden_fvcore=370_962_432,
    snapshot_counts=_snapshot(357_676_800, 326_163_072, 346_050_048), reported=(("coco_ap_256x192", 66.0),)))

DITE18 = register(dataclasses.replace(
    LITE18, name="dite18", family="dite-hrnet", stem="dgc", stem_kernels=4, context="dcm",
    context_reduction=8, spatial="dsc", num_kernels=(4, 4, 2, 1), split_groups=(1, 1, 2, 4),
    weighting="gcm", gcm_reduction=(4, 4, 8, 8), dcm_pool="released", fusion="released_inplace_relu",
    golden_params=1_185_477, golden_fvcore=272_851_618,
    snapshot_counts=_snapshot(259_313_709, 219_991_891, 243_161_720),
    reported=(("coco_ap_256x192", 65.9), ("coco_ap_384x288", 69.0))))
DITE30 = register(dataclasses.replace(
    DITE18, name="dite30", num_modules=(3, 8, 3),
    golden_params=1_860_041, golden_fvcore=438_477_770,
    snapshot_counts=_snapshot(416_291_385, 345_838_303, 390_977_000),
    reported=(("coco_ap_256x192", 68.3), ("coco_ap_384x288", 71.5))))

register(SKNET50)

# Design-choice variants: one choice each, derived from a reference model.
_CONTEXT, _SPATIAL, _WEIGHTING, _SKIP = ("*.blocks.*.context",), ("*.spatial.*",), ("*.weighting.*",), ("*.skip.*",)
for _spec in (
    DITE18.derive("dite18_static", "every DKA conv static (K = 1, no kernel attention), from dynamic "
                  "(K = 4, 4, 2, 1 by branch, 4 in the stem)", dynamic=False, touches=("*.conv",)),
    DITE18.derive("dite18_dw3", "dynamic split conv replaced by one dw 3x3 per branch (same kernel "
                  "counts 4, 4, 2, 1), from DSC with 1, 1, 2, 4 groups", spatial="dw3", touches=_SPATIAL),
    DITE18.derive("dite18_nodcm", "dense context modeling removed, from DCM", context="none",
                  touches=_CONTEXT),
    DITE18.derive("dite18_crw", "dense context modeling replaced by Lite-HRNet's cross-resolution "
                  "weighting, from DCM", context="crw", touches=_CONTEXT),
    DITE18.derive("dite18_patchpool", "DCM pools each patch of each channel on its own (softmax within "
                  "the patch, as the paper describes), from the released code's flat reshape",
                  dcm_pool="per_patch", touches=_CONTEXT),
    DITE18.derive("dite18_nogcm", "global context modeling removed, from GCM", weighting="none",
                  touches=_WEIGHTING),
    DITE18.derive("dite18_sw", "global context modeling replaced by Lite-HRNet's spatial weighting, "
                  "from GCM", weighting="sw", touches=_WEIGHTING),
    DITE18.derive("dite18_litestem", "Lite-HRNet's stem, from the dynamic global context stem",
                  stem="lite", touches=("stem",)),
    LITE18.derive("lite18_cleanfuse", "fusion sums each branch's own output once, from the released "
                  "code's in-place sum (branch 0 twice, later outputs reading fused output 0)",
                  fusion="clean", touches=("*.fuse",)),
    DITE18.derive("dite18_cleanfuse", "fusion sums each branch's own output once, from the released "
                  "code's in-place sum and ReLU (branch 0 twice, later outputs reading fused output 0)",
                  fusion="clean", touches=("*.fuse",)),
    LITE18.derive("lite18_sk", "the block's dw 3x3 replaced by a selective-kernel conv with "
                  "depthwise paths (3x3 + dilated 3x3), from dw 3x3 ConvBN", spatial="sk",
                  touches=_SPATIAL),
    LITE18.derive("lite18_spm", "spatial weighting replaced by a strip pooling module, from SW",
                  weighting="spm", touches=_WEIGHTING),
    LITE18.derive("lite18_mpm", "a mixed pooling module on the 1/4 features before the keypoint "
                  "head, from none", neck="mpm", touches=("neck",)),
    LITE18.derive("lite18_softgate", "the identity half x1 of every block scaled by a soft gate, "
                  "from a plain identity", skip="softgate", touches=_SKIP),
    LITE18.derive("lite18_cp", "every block activation-checkpointed in training (recomputed in "
                  "backward, Lite-HRNet's with_cp), from activations kept", recompute="blocks",
                  touches=("*.blocks",)),
    DITE18.derive("dite18_cp", "every block activation-checkpointed in training (recomputed in "
                  "backward), from activations kept", recompute="blocks", touches=("*.blocks",)),
    HRNET_W32.derive("hrnet_w32_sk", "every BasicBlock's first 3x3 replaced by a selective-kernel "
                     "conv (3x3 + dilated 3x3, 32 groups), from a full 3x3 ConvBN+ReLU", spatial="sk",
                     touches=("stages.*.conv1",)),
    HRNET_W32.derive("hrnet_w32_spm", "every BasicBlock's output gated by a strip pooling module, "
                     "from no gate", weighting="spm", touches=("stages.*.gate",)),
):
    register(_spec)
