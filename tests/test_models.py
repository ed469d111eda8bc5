"""The registry is the test matrix: every model builds and runs; reference models hit the authors'
numbers exactly (goldens: parameters and fvcore totals of the released code, the READMEs' hook
figures); archlab's own counts equal their recorded snapshots (benchmarks/snapshots.py) and, for
HRNet, a closed form of its widths; every variant differs from its base only where it says."""
import fnmatch

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from archlab.models import build, get_spec, list_models, list_variants, register

REFERENCE = [n for n in list_models() if not get_spec(n).base]  # a new reference model is tested
VARIANTS = [n for n in list_models() if get_spec(n).base]


pytestmark = pytest.mark.usefixtures("one_thread")


def params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", list_models())
def test_builds_and_runs(name):
    torch.manual_seed(0)
    spec = get_spec(name)
    c, h, w = spec.input_size
    small = (c, h // 2, w // 2)  # half the model's own input: quick, and still a size it takes
    model = build(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, *small))
    assert out.shape == spec.output_shape(1, small) and torch.isfinite(out).all()


def test_registry_holds_every_named_model():
    for name in REFERENCE + ["dite18_static", "dite18_dw3", "dite18_nodcm", "dite18_crw", "dite18_patchpool",
                             "dite18_nogcm", "dite18_sw", "dite18_litestem", "lite18_cleanfuse",
                             "dite18_cleanfuse", "lite18_sk", "lite18_spm", "lite18_mpm", "lite18_softgate",
                             "hrnet_w32_sk", "hrnet_w32_spm"]:
        assert name in list_models()
    assert list_models("dite18_*")[:2] == ["dite18_static", "dite18_dw3"]


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_params_exact(name):
    spec = get_spec(name)
    assert spec.golden_params is not None and spec.golden_fvcore is not None and spec.reported
    assert {c for c, _ in spec.snapshot_counts} == {"archlab", "paper-hook", "paper-conv"}
    assert params(build(name)) == spec.golden_params


@pytest.mark.slow
@pytest.mark.parametrize("name", REFERENCE)
def test_reference_fvcore_golden_and_count_snapshots(name, reference_counts):
    """fvcore (the tool itself) against the authors' code's total: a golden. archlab's own
    conventions against the snapshot recorded in the zoo: archlab's earlier output, so this only
    says nothing changed unnoticed (regenerate with benchmarks/snapshots.py when it is meant)."""
    spec, report = get_spec(name), reference_counts(name)
    assert report.count("fvcore") == spec.golden_fvcore
    assert {c: report.count(c) for c, _ in spec.snapshot_counts} == dict(spec.snapshot_counts), \
        "archlab's counts moved from their snapshot: python benchmarks/snapshots.py --check"
    assert report.coverage["uncounted"] == {}  # every op of every reference model is accounted for


def hrnet_conv_macs(c, h=256, w=192, keypoints=17, stage1=4, modules=(1, 4, 3), blocks=4):
    """Multiply-adds of every convolution of pose HRNet (no bias), in closed form from its widths
    c = (C1, C2, C3, C4), as the HRNet paper builds it: a stem of two strided 3x3s (3 -> 64 -> 64),
    four bottlenecks (64 -> 256), then stages of modules with 4 basic blocks per branch and a
    fusion (1x1 then upsampled from lower resolutions, chains of strided 3x3s from higher ones),
    the last module keeping the top output only, and a 1x1 keypoint head."""
    def conv(cin, cout, k, positions):
        return cin * cout * k * k * positions
    res = [(h // 4 // 2 ** i) * (w // 4 // 2 ** i) for i in range(4)]  # positions per branch
    macs = conv(3, 64, 3, (h // 2) * (w // 2)) + conv(64, 64, 3, res[0])
    for b in range(stage1):
        macs += conv(64 if b == 0 else 256, 64, 1, res[0]) + conv(64, 64, 3, res[0]) + \
            conv(64, 256, 1, res[0])
    macs += conv(64, 256, 1, res[0])  # the first bottleneck's projection
    macs += conv(256, c[0], 3, res[0]) + conv(256, c[1], 3, res[1])  # two branches
    for stage, n_modules in enumerate(modules, start=2):
        if stage > 2:  # a new branch from the lowest: one strided 3x3
            macs += conv(c[stage - 2], c[stage - 1], 3, res[stage - 1])
        for m in range(n_modules):
            macs += sum(blocks * 2 * conv(c[i], c[i], 3, res[i]) for i in range(stage))
            outputs = 1 if (stage == 4 and m == n_modules - 1) else stage
            for i in range(outputs):
                for j in range(stage):
                    if j > i:
                        macs += conv(c[j], c[i], 1, res[j])
                    for k in range(i - j):  # c_j channels until the last, which makes c_i
                        macs += conv(c[j], c[i] if k == i - j - 1 else c[j], 3, res[j + k + 1])
    return macs + conv(c[0], keypoints, 1, res[0])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hrnet_w32", "hrnet_w48"])
def test_hrnet_conv_macs_equal_their_closed_form(name, reference_counts):
    """A check archlab did not compute: the paper-conv count (conv multiply-adds, no bias) against
    the closed form of the widths."""
    spec = get_spec(name)
    assert reference_counts(name).count("paper-conv") == hrnet_conv_macs(spec.channels)


def _leaf_hook_count(model: nn.Module, x: torch.Tensor) -> int:
    """The Lite/Dite README rule (architectures.md, last section): leaf modules, last call only."""
    def count(m, inp, out):
        x = inp[0]
        if all(hasattr(m, a) for a in ("in_channels", "out_channels", "kernel_size", "groups")):
            n = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups * out[0].numel()
            return n + (out.numel() if getattr(m, "bias", None) is not None else 0)
        if isinstance(m, nn.BatchNorm2d):
            return 2 * x.numel()
        if isinstance(m, nn.ReLU):
            return x.numel()
        if isinstance(m, nn.Upsample):
            return out.shape[0] * out.shape[2] * out.shape[3]
        if isinstance(m, nn.AdaptiveAvgPool2d) and out.shape[-2:] == (1, 1):
            return x.shape[0] * x.shape[1] * (x.shape[2] + 1) * (x.shape[3] + 1)
        return 0
    last = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: last.__setitem__(n, count(m, i, o)))
             for n, m in model.named_modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return sum(last.values())


@pytest.mark.slow
@pytest.mark.parametrize("name,published", [("lite18", 205.2), ("naive_lite18", 194.8), ("dite18", 209.8)])
def test_leaf_structure_gives_published_hook_figures(name, published):
    """Guards the module structure the profiler's paper-hook convention relies on (shared fusion
    ReLU, nn.Upsample in fusion, DKA kernels in a leaf with conv geometry, module GAPs)."""
    spec = get_spec(name)
    total = _leaf_hook_count(build(name).eval(), torch.randn(1, *spec.input_size))
    assert round(total / 2 ** 20, 1) == published


def _tree(model: nn.Module) -> dict:
    return {name: (type(m).__name__, m.extra_repr(),
                   tuple((p, tuple(t.shape)) for p, t in m.named_parameters(recurse=False)))
            for name, m in model.named_modules()}


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_differs_only_where_it_says(name):
    spec = get_spec(name)
    base = get_spec(spec.base)
    assert base.base is None and spec.change and spec.touches
    assert spec.golden_params is None and not spec.reported
    changed = {f for f in spec.settings() if getattr(spec, f) != getattr(base, f)}
    assert len(changed) == 1, f"{name} changes {changed}, not one choice"
    a, b = _tree(build(base.name)), _tree(build(name))
    diff = {p for p in a.keys() | b.keys() if a.get(p) != b.get(p)}
    assert diff, f"{name} builds the same module tree as {base.name}"
    stray = sorted(p for p in diff
                   if not any(fnmatch.fnmatchcase(p, t) or fnmatch.fnmatchcase(p, t + ".*") for t in spec.touches))
    assert not stray, f"{name} changes modules outside {spec.touches}: {stray[:5]}"


def test_overrides_and_grammar():
    torch.manual_seed(0)
    assert build("lite18", num_keypoints=16).eval()(torch.randn(1, 3, 128, 96)).shape == (1, 16, 32, 24)
    spec = get_spec("dite18@context=crw")
    assert spec.context == "crw" and spec.base == "dite18" and "dcm -> crw" in spec.change
    lite30 = params(build("lite30"))
    assert params(build("lite18@num_modules=3-8-3")) == lite30
    assert params(build("lite18@num_modules=(3,8,3),fusion=clean")) == lite30
    assert params(build("dite18@dynamic=false")) == params(build("dite18_static"))
    assert params(build("dite18", num_kernels=(1, 1, 1, 1), stem_kernels=1)) == params(build("dite18_static"))
    assert get_spec("lite18@fusion=clean").fusion == "clean"
    assert get_spec("dite18_patchpool").dcm_pool == "per_patch"


def test_bad_names():
    with pytest.raises(ValueError, match="unknown model 'lite81'.*lite18"):
        get_spec("lite81")
    with pytest.raises(ValueError, match="did you mean 'context'"):
        get_spec("dite18@contxt=crw")
    with pytest.raises(ValueError, match="did you mean 'crw'"):
        build("dite18@context=crv")
    with pytest.raises(ValueError, match="not an integer"):
        get_spec("lite18@num_blocks=two")
    with pytest.raises(ValueError, match="no setting"):
        build("lite18", num_keypoint=16)
    with pytest.raises(ValueError, match="already registered"):
        register(get_spec("lite18"))
    with pytest.raises(ValueError, match="one more entry"):
        get_spec("lite18@channels=40-80-160")
    with pytest.raises(ValueError, match="block 'basic' has no context"):
        build("hrnet_w32@context=dcm")
    with pytest.raises(ValueError, match="did you mean 'released'"):
        build("lite18@fusion=releasd")
    with pytest.raises(ValueError, match="dcm_pool is a choice of context 'dcm' only"):
        build("lite18@dcm_pool=per_patch")


@pytest.mark.parametrize("name", ["hrnet_w32", "lite18", "dite18"])
def test_bad_inputs_fail_before_any_conv(name):
    model = build(name).eval()
    ran = []
    model.stem.register_forward_pre_hook(lambda *a: ran.append(1))
    with pytest.raises(ValueError, match="divisible by 32"):
        model(torch.randn(1, 3, 100, 96))
    with pytest.raises(ValueError, match="divisible by 32"):
        model(torch.randn(1, 3, 128, 90))
    with pytest.raises(ValueError, match="3 input channels, got 1"):
        model(torch.randn(1, 1, 128, 96))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(3, 128, 96))
    assert not ran


@pytest.mark.parametrize("name, fusion", [("hrnet_w32", "clean"), ("lite18", "released"),
                                          ("lite30", "released"), ("naive_lite18", "released"),
                                          ("wider_naive_lite18", "released"),
                                          ("dite18", "released_inplace_relu"),
                                          ("dite30", "released_inplace_relu")])
def test_reference_models_fuse_as_the_released_code(name, fusion):
    spec = get_spec(name)
    assert spec.fusion == fusion and spec.dcm_pool == "released"
    assert {m.form for m in build(name).modules() if type(m).__name__ == "Fusion"} == {fusion}


@pytest.mark.parametrize("name", ["lite18", "dite18", "naive_lite18"])
def test_in_place_fusion_trains(name):
    """The released code trains with its in-place sums and ReLU: so must the models that mirror it."""
    torch.manual_seed(0)
    model = build(name).train()
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def _copies(model: nn.Module, x: torch.Tensor) -> int:
    """Strided copies (aten clone / copy_) one forward dispatches."""
    seen = []

    class Seen(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Seen():
        model(x)
    return sum(n in ("clone", "copy_") for n in seen)


def test_dite18_copies_only_where_the_released_code_does():
    """The released code copies once per channel shuffle (a transpose made contiguous) and nowhere
    else; dite18 does the same. Per-patch DCM pooling gathers patches: 2 more per pooled map."""
    from archlab.blocks.ccw import CCWBlock
    from archlab.blocks.dynamic import DynamicSplitConv
    from archlab.blocks.stems import DGCStem
    model = build("dite18").eval()
    shuffles = sum(len(m.spatial) if isinstance(m, CCWBlock) else
                   int(isinstance(m, DGCStem) or (isinstance(m, DynamicSplitConv) and m.groups > 1))
                   for m in model.modules())
    pooled = sum(len(m.context.masks) for m in model.modules() if isinstance(m, CCWBlock))
    x = torch.randn(1, 3, 128, 96)
    assert (shuffles, pooled) == (65, 32)
    assert _copies(model, x) == shuffles
    assert _copies(build("dite18_patchpool").eval(), x) == shuffles + 2 * pooled


def test_list_variants_puts_each_base_before_its_variants():
    names = list_variants()
    variants = [n for n in list_models() if get_spec(n).base]
    assert set(variants) < set(names)
    for v in variants:
        assert names.index(get_spec(v).base) < names.index(v)
    assert list_variants(["lite18"])[0] == "lite18"
    assert all(get_spec(n).base in (None, "lite18") for n in list_variants(["lite18"]))
    with pytest.raises(ValueError, match="no registered variant"):
        list_variants(["sknet50"])
