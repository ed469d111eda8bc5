"""Deploy runtimes: BN folding on every block, the rows profile_runtimes gives, and the failures
that must become rows (an unexportable model, a compile over its limit, outputs that differ)."""
import json
import sys
import time

import pytest
import torch
from torch import nn

import archlab
from archlab.blocks.ccw import CCWBlock
from archlab.blocks.context import CRW, DCM, GCM
from archlab.blocks.conv import ConvBN, DWSepConv
from archlab.blocks.dynamic import DynamicSplitConv, dynamic_conv_bn
from archlab.blocks.fusion import Fusion, Transition
from archlab.blocks.residual import BasicBlock, Bottleneck, ShuffleUnit
from archlab.blocks.selective import SKConv
from archlab.blocks.stems import DGCStem, LiteStem
from archlab.profile.deploy import prepare as preparing
from archlab.profile.deploy.fusing import fold_batchnorms
from archlab.profile.core.hooks import hook_count
from archlab.profile.deploy.layouts import choose_layout, to_channels_last
from archlab.profile.deploy.onnx_names import common_module, name_modules_by_neighbours, resolve
from archlab.profile.deploy.onnx_runtime import EXTRA_HINT, MissingExtra
from archlab.profile.deploy.outputs import compare
from archlab.profile.deploy.pairs import paired_runtime_latency
from archlab.profile.deploy.runtimes import ROW_KEYS, check_runtimes, profile_runtimes

FAST = {"rounds": 3, "budget_s": 0.5, "warmup": 1}  # rows, not timings, are under test here


def trained_bns(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN statistics and an affine map far from the identity a fresh BN has: folding a
    fresh BN changes almost nothing, so a wrong fold would pass unseen."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(c, generator=g) * 2 + 0.2)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.5)
    return model.eval()


def two_branches(batch=2):
    return [torch.randn(batch, 8, 8, 8), torch.randn(batch, 16, 4, 4)]


def image(c=8, batch=2, size=8):
    return torch.randn(batch, c, size, size)


# (block, input, BNs expected to stay); batch 2 so that a dynamic conv mixes two different kernels
BLOCKS = {
    "convbn": (lambda: ConvBN(8, 16, 3, act="relu"), image, 0),
    "convbn-depthwise": (lambda: ConvBN(8, 8, 3, groups=8), image, 0),
    "dwsep": (lambda: DWSepConv(8, 16), image, 0),
    "dka-conv-bn-depthwise": (lambda: dynamic_conv_bn(8, 8, 3, groups=8, num_kernels=4), image, 0),
    "dka-conv-bn-dense": (lambda: dynamic_conv_bn(8, 16, 1, num_kernels=3, act="relu"), image, 0),
    "dsc": (lambda: DynamicSplitConv(8, groups=2, num_kernels=4), image, 0),
    "sk-dilated": (lambda: SKConv(8, groups=8), image, 0),
    "sk-3x3+5x5": (lambda: SKConv(8, groups=8, paths="3x3+5x5"), image, 0),
    "shuffle-unit": (lambda: ShuffleUnit(8), image, 0),
    "basic-block": (lambda: BasicBlock(8), image, 0),
    "basic-block-sk-spm": (lambda: BasicBlock(32, spatial="sk", gate="spm"), lambda: image(32), 0),
    "bottleneck": (lambda: Bottleneck(8, 4), image, 0),
    "gcm": (lambda: GCM(8), image, 1),  # its BN reads x * weight, not a conv
    "crw": (lambda: CRW([8, 16]), two_branches, 0),
    "dcm": (lambda: DCM([8, 16]), two_branches, 0),
    "ccw-lite": (lambda: CCWBlock([16, 32]), lambda: [image(16), image(32, size=4)], 0),
    "ccw-dite": (lambda: CCWBlock([16, 32], context="dcm", spatial="dsc", weighting="gcm",
                                  num_kernels=(4, 2), split_groups=(1, 2), gcm_reduction=(4, 4)),
                 lambda: [image(16), image(32, size=4)], 2),  # one GCM per branch
    "fusion": (lambda: Fusion([8, 16], form="released_inplace_relu"), two_branches, 0),
    "transition": (lambda: Transition([8, 16], [8, 16, 32]), two_branches, 0),
    "lite-stem": (lambda: LiteStem(3, 16), lambda: image(3, size=16), 0),
    "dgc-stem": (lambda: DGCStem(3, 32, num_kernels=4), lambda: image(3, size=16), 2),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_fused_block_equals_eager(name):
    torch.manual_seed(0)
    make, make_input, kept = BLOCKS[name]
    block = trained_bns(make())
    torch.manual_seed(1)
    x = make_input()
    fused, record = fold_batchnorms(block)
    torch.manual_seed(1)  # the same input again: the released fusion sums into its inputs in place
    with torch.no_grad():
        diff = compare(fused(x), block(make_input()))
    assert diff["mismatch"] is None
    assert diff["max_rel_diff"] <= 1e-5
    assert len(record.not_folded) == kept, record.not_folded
    assert len(record.folded) + kept == record.total > 0
    left = sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert left == kept


def test_a_dynamic_conv_takes_its_bn_into_every_kernel_and_a_bias():
    block = trained_bns(dynamic_conv_bn(8, 8, 3, groups=8, num_kernels=4))
    fused, record = fold_batchnorms(block)
    assert record.folded == {"bn": "conv.aggregate", "conv.attention.bn": "conv.attention.reduce"}
    aggregate = fused.conv.aggregate
    assert aggregate.weight.shape == block.conv.aggregate.weight.shape  # still K kernels
    assert aggregate.folded_bias.shape == (8,)
    assert not hasattr(block.conv.aggregate, "folded_bias")  # only the copy changed class
    assert type(block.conv.aggregate).__name__ == "KernelAggregation"


def test_fold_count_and_reasons_on_a_hand_made_model():
    model = trained_bns(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.BatchNorm2d(8), nn.Conv2d(8, 8, 1, bias=True),
                                      nn.BatchNorm2d(8)))
    fused, record = fold_batchnorms(model)
    assert (record.total, record.folded) == (3, {"1": "0", "5": "4"})
    assert record.not_folded == {"3": "follows a ReLU, not a conv"}
    assert record.summary() == "2 of 3 BNs folded; 1 kept: 1 follows a ReLU, not a conv"
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert compare(fused(x), model(x))["max_rel_diff"] <= 1e-5


class ReadTwice(nn.Module):
    """The conv's output feeds the BN and the sum: folding would change the sum."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class OwnFold(nn.Module):
    """A conv-like module that folds a BN itself (the fold_bn protocol)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.shift = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        return x * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)

    def fold_bn(self, bn):
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.shift.copy_((self.shift - bn.running_mean) * s + bn.bias)
        self.scale.copy_(self.scale * s)


def test_a_bn_whose_conv_output_is_read_elsewhere_stays():
    _, record = fold_batchnorms(trained_bns(ReadTwice()))
    assert record.not_folded == {"bn": "follows a conv whose output is also read elsewhere"}


def test_a_module_with_fold_bn_folds_itself():
    model = trained_bns(nn.Sequential(OwnFold(), nn.BatchNorm2d(4)))
    fused, record = fold_batchnorms(model)
    assert record.folded == {"1": "0"}
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        assert compare(fused(x), model(x))["max_rel_diff"] <= 1e-5


@pytest.mark.parametrize("name", ["lite18", "dite18"])
def test_whole_models_fold_and_only_gcm_bns_stay(name):
    model = trained_bns(archlab.build(name))
    x = torch.randn(1, 3, 64, 64)
    fused, record = fold_batchnorms(model)
    with torch.no_grad():
        assert compare(fused(x), model(x))["max_rel_diff"] <= 1e-5
    gcm_bns = {n + ".bn" for n, m in model.named_modules() if isinstance(m, GCM)}
    assert set(record.not_folded) == gcm_bns  # lite18 has none; dite18 one per GCM
    assert len(record.folded) + len(gcm_bns) == record.total


def test_channels_last_copy_keeps_kernel_banks_and_outputs():
    block = trained_bns(nn.Sequential(dynamic_conv_bn(8, 8, 3, groups=8, num_kernels=4),
                                      ConvBN(8, 8, 1)))
    x = image()
    last = to_channels_last(fold_batchnorms(block)[0])
    assert last[0].conv.aggregate.weight.dim() == 5
    assert last[1].conv.weight.is_contiguous(memory_format=torch.channels_last)
    forward, facts = choose_layout(last, x, torch.device("cpu"), rounds=3, budget_s=0.5)
    assert facts["layout"] in ("contiguous", "channels_last")
    with torch.no_grad():
        assert compare(forward(x), block(x))["max_rel_diff"] <= 1e-5


def mixed_mode_model():
    model = trained_bns(nn.Sequential(ConvBN(3, 8, 3, act="relu"),
                                      dynamic_conv_bn(8, 8, 3, groups=8, num_kernels=2),
                                      nn.Conv2d(8, 4, 1)))
    model.train()
    model[1].eval()  # a mix of modes, which must come back as it was
    return model


def snapshot(model: nn.Module):
    """Everything a run must give back unchanged: classes, modes, weights and buffers, hooks."""
    return ([(type(m), m.training) for m in model.modules()],
            {k: v.clone() for k, v in model.state_dict().items()}, hook_count(model))


def assert_as_found(model: nn.Module, before) -> None:
    modes, state, hooks = before
    assert [(type(m), m.training) for m in model.modules()] == modes
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert hook_count(model) == hooks


def test_rows_have_the_promised_keys_and_leave_the_model_as_found():
    model = mixed_mode_model()
    before = snapshot(model)
    rows = profile_runtimes(model, (3, 16, 16), "fused", threads=1, **FAST)
    assert [r["name"] for r in rows] == ["eager", "fused"]
    assert all(tuple(r) == ROW_KEYS for r in rows)
    eager, fused = rows
    assert eager["ratio_to_eager"] == 1.0 and eager["max_rel_diff"] == 0.0 and eager["valid"]
    assert fused["valid"] and fused["max_rel_diff"] <= 1e-5 and fused["latency_ms"] > 0
    assert fused["n"] == len(fused["details"]["samples_ms"]) >= 1
    assert fused["ratio_p10"] <= fused["ratio_to_eager"] <= fused["ratio_p90"]
    assert "3 of 3 BNs folded" in fused["note"] and "kept (channels_last" in fused["note"]
    assert_as_found(model, before)


def test_rows_round_trip_through_json():
    rows = profile_runtimes(mixed_mode_model(), (3, 16, 16), ["eager", "fused"], **FAST)
    assert json.loads(json.dumps(rows)) == rows


def test_outputs_beyond_the_tolerance_make_a_runtime_not_valid(monkeypatch):
    real = preparing.fold_batchnorms

    def off_by_a_bit(model):
        fused, record = real(model)
        with torch.no_grad():
            fused[-1].bias += 0.01  # what a wrong fold would do
        return fused, record

    monkeypatch.setattr(preparing, "fold_batchnorms", off_by_a_bit)
    rows = profile_runtimes(mixed_mode_model(), (3, 16, 16), "fused", **FAST)
    fused = rows[1]
    assert fused["max_rel_diff"] > 1e-4 and fused["valid"] is False
    assert fused["note"].startswith("outputs differ from eager")
    assert fused["latency_ms"] is not None  # timed, but its time is not valid


def test_a_compile_failure_is_a_row_not_a_crash(monkeypatch):
    def broken(model, *args, **kwargs):
        raise RuntimeError("no C++ compiler here\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    rows = profile_runtimes(mixed_mode_model(), (3, 16, 16), "compile", **FAST)
    assert rows[1]["valid"] is False and rows[1]["latency_ms"] is None
    assert rows[1]["note"] == "torch.compile failed: RuntimeError: no C++ compiler here"
    assert rows[0]["valid"]  # eager is still measured


def test_a_preparation_past_its_limit_is_abandoned_and_stopped():
    def forever():
        while True:
            time.sleep(0.01)

    outcome = preparing.run_with_limit(forever, 0.2, grace_s=5)
    assert not outcome.finished and outcome.stopped
    failed = preparing.run_with_limit(lambda: 1 / 0, 5)
    assert failed.finished and isinstance(failed.error, ZeroDivisionError)
    assert preparing.run_with_limit(lambda: 42, 5).value == 42


def test_unknown_runtime_names_the_choices_and_the_closest():
    with pytest.raises(ValueError, match=r"unknown runtime 'compiled'; did you mean 'compile'\? "
                                         r"\(choices: eager, fused, compile, onnxruntime\)"):
        check_runtimes("fused,compiled")
    assert check_runtimes(["fused", "eager", "fused"]) == ["eager", "fused"]


def test_onnxruntime_without_the_extra_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(MissingExtra) as err:
        profile_runtimes(nn.Conv2d(3, 4, 1), (3, 8, 8), "onnxruntime")
    assert str(err.value).startswith(EXTRA_HINT) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)  # a UsageError: the command exits 2 with this line


def test_profiled_node_names_map_back_with_suffixes_stripped():
    table = {"node_add": "0", "relu_2": "1.conv1.act", "node_Conv_7": "1.conv1.bn"}
    assert resolve("relu_2_nchwc", table) == "1.conv1.act"
    assert resolve("node_Conv_7", table) == "1.conv1.bn"
    assert resolve("ReorderOutput_token_7", table) is None


class SetOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return {self.conv(x)}  # a set: no exporter can say which output is which


def test_an_unexportable_model_gets_a_row_with_the_reason():
    pytest.importorskip("onnxruntime")
    rows = profile_runtimes(SetOutput(), (3, 8, 8), "onnxruntime", **FAST)
    onnx_row = rows[1]
    assert onnx_row["valid"] is False and onnx_row["latency_ms"] is None
    assert onnx_row["note"].startswith("ONNX export failed: TorchExportError")
    assert "set" in onnx_row["note"]
    assert rows[0]["valid"] and rows[0]["latency_ms"] > 0


def test_onnxruntime_matches_eager_and_maps_node_times_to_modules():
    pytest.importorskip("onnxruntime")
    model = mixed_mode_model()
    before = snapshot(model)
    row = profile_runtimes(model, (3, 16, 16), "onnxruntime", threads=1, **FAST)[1]
    assert_as_found(model, before)
    assert row["valid"] and row["max_rel_diff"] <= 1e-5
    names = {n for n, _ in model.named_modules()}
    assert row["per_module_ms"] and set(row["per_module_ms"]) <= names
    assert 0.9 <= row["mapped_share"] <= 1.0 and "of node time mapped to modules" in row["note"]
    assert row["details"]["providers"] == ["CPUExecutionProvider"]


@pytest.mark.slow
def test_compile_matches_eager_and_reports_its_compile_time():
    model = mixed_mode_model()
    before = snapshot(model)
    rows = profile_runtimes(model, (3, 16, 16), "compile", threads=1, **FAST)
    assert_as_found(model, before)
    compiled = rows[1]
    assert compiled["valid"] and compiled["max_rel_diff"] <= 1e-5
    assert compiled["prepare_s"] == pytest.approx(compiled["details"]["compile_s"], abs=1e-3)
    assert compiled["note"].startswith("compiled in")


@pytest.mark.slow
def test_a_compile_over_its_limit_is_a_note():
    rows = profile_runtimes(mixed_mode_model(), (3, 12, 12), "compile", compile_limit_s=0.05,
                            **FAST)
    assert rows[1]["valid"] is False
    assert rows[1]["note"].startswith("compile did not finish within the 0.05 s limit")


def test_nodes_without_a_recorded_module_take_their_neighbours_common_module():
    helper = pytest.importorskip("onnx.helper")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="node_Conv_1"),
             helper.make_node("Split", ["a"], ["b", "c"], name="node_Split_2"),
             helper.make_node("Relu", ["b"], ["d"], name="node_relu"),
             helper.make_node("Relu", ["c"], ["e"], name="node_relu_1"),
             helper.make_node("Reorder", ["e"], ["y"], name="ReorderOutput_token_3")]
    graph = helper.make_graph(nodes, "g", [], [])
    table = {"node_Conv_1": "stem.conv", "node_relu": "blocks.0.left.act",
             "node_relu_1": "blocks.0.right.act"}
    name_modules_by_neighbours(graph, table, strip_suffixes=False)
    assert table["node_Split_2"] == "blocks.0"  # holds both readers
    assert table["ReorderOutput_token_3"] == "blocks.0.right.act"  # no reader: its writer's
    assert common_module(["a.b.c", "a.b", "a.bc"]) == "a" and common_module(["x", "y"]) == ""


def test_a_design_choice_under_a_runtime_is_paired_against_its_base(monkeypatch):
    base = trained_bns(nn.Sequential(ConvBN(3, 8, 3, act="relu"), nn.Conv2d(8, 4, 1)))
    variant = trained_bns(nn.Sequential(dynamic_conv_bn(3, 8, 3, num_kernels=4, act="relu"),
                                        nn.Conv2d(8, 4, 1)))
    pair = paired_runtime_latency(variant, base, (3, 16, 16), "fused", **FAST)
    assert pair["runtime"] == "fused" and pair["valid"]
    assert pair["ratio_p10"] <= pair["ratio"] <= pair["ratio_p90"] and pair["n"] >= 1
    assert set(pair["max_rel_diff"]) == {"model", "base"}
    assert "model: 2 of 2 BNs folded" in pair["note"] and "base: 1 of 1 BNs folded" in pair["note"]

    def broken(model, *args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(torch, "compile", broken)
    failed = paired_runtime_latency(variant, base, (3, 16, 16), "compile", **FAST)
    assert failed["ratio"] is None and failed["valid"] is False
    assert "torch.compile failed" in failed["note"]
