"""The authors' released checkpoints load into archlab's models, every tensor by name, and give the
released code's outputs.

tests/data/released_keys/ holds the key names, order, shapes and dtypes of the released checkpoints
(read off the authors' model code: mmpose's Lite-HRNet and Dite-HRNet, the HRNet repository's
PoseHighResolutionNet). `fill` gives every key a deterministic value, and RELEASED_OUTPUTS is what
the released code computes from that fill.
"""
import json
import math
import os
from pathlib import Path

import pytest
import torch

import archlab
from archlab.models import CheckpointError, build, load_checkpoint

DATA = Path(__file__).parent / "data" / "released_keys"


def spec_folder() -> Path:
    """The spec's checkpoints/ folder, where the key lists in DATA came from: $ARCHLAB_SPEC (the
    spec folder) when set, else the shared spec beside this checkout (../shared/spec) or beside a
    folder above it (a checkout made deeper, as a worktree is)."""
    given = os.environ.get("ARCHLAB_SPEC")
    if given:
        return Path(given).expanduser() / "checkpoints"
    beside = [p / "shared" / "spec" / "checkpoints" for p in Path(__file__).resolve().parents[2:]]
    return next((p for p in beside if p.is_dir()), beside[0])


SPEC = spec_folder()
RELEASED = ["lite18", "lite30", "dite18", "dite30", "hrnet_w32"]
# Unused by the released code: the DCM mask conv of the lowest branch of every Dite block.
DEAD = {"lite18": (0, 0), "lite30": (0, 0), "dite18": (32, 1_456), "dite30": (56, 2_508), "hrnet_w32": (0, 0)}

# The released models' heatmaps for `fill` at 1x3x256x192 (x from seed 0), eval, one thread: float64
# sum and abs-sum, max, min, and the values at flat indices 0, 1000, 5000, 10000, 13055.
RELEASED_OUTPUTS = {
    "lite18": (481.036169, 12570.1795, 0.8956273, -1.055374,
               (-0.1160451, -0.1494947, 0.06137491, -0.09190602, 0.01883558)),
    "dite18": (129.175175, 4310.08421, 0.1613838, -0.2192102,
               (0.07330227, -0.01656893, -0.0167817, -0.1114099, 0.007422581)),
}


pytestmark = pytest.mark.usefixtures("one_thread")


def released_keys(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def fill(name: str) -> dict:
    """A checkpoint in the released layout (mmpose: under "state_dict"), the k-th key filled from
    torch.Generator().manual_seed(1000 + k): BN statistics plausible, kernels scaled by fan-in."""
    spec = released_keys(name)
    state = {}
    for k, (key, shape, _dtype) in enumerate(spec["keys"]):
        r = torch.randn(shape, generator=torch.Generator().manual_seed(1000 + k))
        if key.endswith("num_batches_tracked"):
            t = torch.zeros(shape, dtype=torch.int64)
        elif key.endswith("running_var"):
            t = 1 + 0.1 * r.abs()
        elif key.endswith("running_mean"):
            t = 0.1 * r
        elif len(shape) == 1:
            t = 0.5 + 0.1 * r if key.endswith("weight") else 0.1 * r
        else:
            fan_in = math.prod(shape[-3:] if len(shape) >= 4 else shape[1:])
            t = r * math.sqrt(1 / fan_in)
        state[key] = t
    return {"state_dict": state, "meta": {"epoch": 210}} if spec["checkpoint_format"] == "mmpose" else state


@pytest.mark.parametrize("name", RELEASED)
def test_released_key_list_loads_with_every_tensor_used(name):
    spec = released_keys(name)
    ckpt = fill(name)
    file_sd = ckpt.get("state_dict", ckpt)
    assert list(file_sd) == [k for k, _, _ in spec["keys"]] and len(file_sd) == spec["num_keys"]
    model = build(name)
    info = load_checkpoint(model, ckpt)
    ours = model.state_dict()
    n_dead, dead_params = DEAD[name]
    assert info.loaded == len(ours) == spec["num_keys"] - n_dead
    assert len(info.ignored) == n_dead and sum(file_sd[k].numel() for k in info.ignored) == dead_params
    assert all(".dcm.conv_mask." in k for k in info.ignored)
    assert sum(p.numel() for p in model.parameters()) + dead_params == spec["num_parameters"]
    # every model tensor is one file tensor, each used once (the fill gives each key its own values)
    def fingerprint(t):
        return tuple(t.shape), tuple(t.flatten()[:4].tolist()), t.double().sum().item()
    by_print = {fingerprint(t): k for k, t in file_sd.items() if not k.endswith("num_batches_tracked")}
    used = {by_print.get(fingerprint(t)) for k, t in ours.items() if not k.endswith("num_batches_tracked")}
    assert None not in used and len(used) == len(by_print) - n_dead


# A few renamings spelled out, where a wrong rule would still give the right shapes.
SPOT = {
    "lite18": [("backbone.stage1.0.fuse_layers.2.0.1.2.weight", "stages.1.body.0.fuse.paths.2.0.1.pointwise.conv.weight"),
               ("backbone.stem.linear_conv.bn.running_var", "stem.branch_b.2.bn.running_var"),
               ("backbone.transition0.1.0.0.weight", "stages.0.transition.branches.1.0.depthwise.conv.weight")],
    "dite18": [("backbone.stage2.1.layers.1.conv.3.conv.2.bn.bias", "stages.2.body.1.blocks.1.spatial.3.convs.2.bn.bias"),
               ("backbone.stage1.3.layers.0.dcm.conv_mask.1.bias", "stages.1.body.3.blocks.0.context.masks.1.bias"),
               ("backbone.stem.branch2.1.channel_attention.3.bias", "stem.branch_b.1.expand.bias")],
    "hrnet_w32": [("stage4.2.branches.1.3.bn2.running_mean", "stages.2.body.2.blocks.3.1.conv2.bn.running_mean"),
                  ("stage3.0.branches.2.1.conv1.weight", "stages.1.body.0.blocks.1.2.conv1.conv.weight"),
                  ("transition1.1.0.1.bias", "stages.0.transition.branches.1.0.bn.bias"),
                  ("layer1.0.downsample.1.weight", "layer1.0.shortcut.bn.weight")],
}


@pytest.mark.parametrize("name", sorted(SPOT))
def test_named_renamings(name):
    ckpt = fill(name)
    file_sd = ckpt.get("state_dict", ckpt)
    ours = build(name, checkpoint=ckpt).state_dict()
    for theirs, mine in SPOT[name]:
        assert torch.equal(ours[mine], file_sd[theirs]), (theirs, mine)


@pytest.mark.parametrize("name", sorted(RELEASED_OUTPUTS))
def test_loaded_models_give_the_released_outputs(name):
    model = build(name, checkpoint=fill(name)).eval()
    x = torch.randn(1, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 17, 64, 48)
    total, abs_total, top, bottom, values = RELEASED_OUTPUTS[name]
    flat = y.flatten()
    got = [y.double().sum().item(), y.double().abs().sum().item(), y.max().item(), y.min().item()]
    got += [flat[i].item() for i in (0, 1000, 5000, 10000, 13055)]
    want = [total, abs_total, top, bottom, *values]
    assert got == pytest.approx(want, rel=1e-5)


def test_variants_of_the_function_differ_from_the_released_one():
    """The clean fusion and per-patch DCM pooling are other functions of the same weights."""
    ckpt = fill("dite18")
    x = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outs = {n: build(n, checkpoint=ckpt).eval()(x) for n in ("dite18", "dite18_cleanfuse", "dite18_patchpool")}
    assert not torch.allclose(outs["dite18"], outs["dite18_cleanfuse"], rtol=1e-3, atol=1e-4)
    assert not torch.allclose(outs["dite18"], outs["dite18_patchpool"], rtol=1e-3, atol=1e-4)


def test_build_with_a_checkpoint_round_trips(tmp_path):
    released = tmp_path / "lite18_coco.pth"
    torch.save(fill("lite18"), released)
    model = archlab.build("lite18", checkpoint=released)
    assert "1418 tensors" in model.loaded_checkpoint.note and not model.loaded_checkpoint.ignored
    ours = tmp_path / "lite18_archlab.pth"
    torch.save(model.state_dict(), ours)
    again = archlab.build("lite18", checkpoint=str(ours))
    assert "archlab state_dict" in again.loaded_checkpoint.note
    a, b = model.state_dict(), again.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    fresh = archlab.build("dite18_patchpool")  # a variant reads its base's released file
    assert archlab.load_checkpoint(fresh, fill("dite18")).loaded == 2622


@pytest.mark.parametrize("name, model, match", [
    ("lite30", "lite18", r"does not fit lite18: 942 unexpected: backbone\.stage0\.2\..*seems to be for lite30"),
    ("lite18", "lite30", r"does not fit lite30: 942 missing: stages\.0\.body\.2\..*seems to be for lite18"),
    ("dite18", "lite18", r"read as an mmpose Lite-HRNet checkpoint\) does not fit lite18: .*missing.*"
                         r"unexpected.*seems to be for dite18"),
    ("hrnet_w32", "lite18", r"is an HRNet-repository checkpoint; lite18 reads mmpose Lite-HRNet checkpoints "
                            r"and archlab state_dicts; the file seems to be for hrnet_w32"),
    ("lite18", "hrnet_w32", r"is an mmpose .* checkpoint; hrnet_w32 reads HRNet-repository.*lite18"),
    ("lite18", "sknet50", r"sknet50 reads archlab state_dicts only; the file seems to be for lite18"),
])
def test_a_checkpoint_for_another_model_is_a_clear_error(name, model, match):
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(build(model), fill(name))
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)


def test_a_head_of_another_width_is_named():
    with pytest.raises(CheckpointError, match=r"2 of the wrong shape: keypoint_head\.final_layer\.weight "
                                              r"\[17, 40, 1, 1\] \(model \[16, 40, 1, 1\]\)"):
        build("lite18", num_keypoints=16, checkpoint=fill("lite18"))


def test_unreadable_files_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint\n" * 10)
    truncated = tmp_path / "truncated.pth"
    torch.save(fill("lite18"), truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    other = tmp_path / "other.pth"
    torch.save({"epoch": 3, "lr": 0.1}, other)
    for path, match in ((junk, r"not a PyTorch checkpoint \(not a zip or pickle file torch.load "
                               r"can read\): give the .pth file"),
                        (truncated, "not a checkpoint torch.load can read"),
                        (other, "holds no state_dict"),
                        (tmp_path / "absent.pth", "no checkpoint file")):
        with pytest.raises(CheckpointError, match=match) as err:
            load_checkpoint(build("lite18"), path)
        assert "\n" not in str(err.value)


@pytest.mark.skipif(not SPEC.is_dir(), reason=f"no spec folder at {SPEC.parent}: set ARCHLAB_SPEC "
                                               "to the spec folder to check the key lists against it")
@pytest.mark.parametrize("name", RELEASED)
def test_key_lists_are_the_specs(name):
    assert released_keys(name) == json.loads((SPEC / f"{name}.json").read_text())


def test_profile_loads_the_weights_and_says_so(tmp_path):
    path = tmp_path / "dite18_coco.pth"
    torch.save(fill("dite18"), path)
    rep = archlab.profile("dite18", (3, 64, 64), checkpoint=path, latency=False, memory=False,
                          conventions=("archlab",), per_module=False)
    note = [n for n in rep.notes if n.startswith("weights:")]
    assert len(note) == 1 and "2622 tensors from" in note[0] and "ignored 32 unused tensors" in note[0]
    assert "conv_mask" in note[0] and "\n" not in note[0]
    with pytest.raises(CheckpointError, match="seems to be for dite18"):
        archlab.profile("lite18", (3, 64, 64), checkpoint=path, latency=False, memory=False)
