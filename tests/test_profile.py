"""The profiler on small hand-checkable modules: counting, conventions, ledger, memory, reports."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archlab.profile import (DEFAULT_CONVENTIONS, profile_module, reconcile, register_formula, sweep,
                             unregister_formula)
from archlab.profile.core.hooks import hook_count
from archlab.profile.timing.paired import paired_latency, time_models_side_by_side
from archlab.profile.count.formulas import einsum_macs
from archlab.results import ROOFLINE, Report

FAST = dict(latency=False, memory=False)


def counts(model, size, batch=1, conventions=DEFAULT_CONVENTIONS, **kw):
    rep = profile_module(model, size, batch=batch, conventions=conventions, **{**FAST, **kw})
    return rep, {c: rep.count(c) for c in conventions}


class DynamicConv(nn.Module):
    """A per-sample dynamic depthwise conv (DKA style): K kernels mixed by attention, run as one
    grouped F.conv2d over (1, B*C, H, W) with groups = B*C."""

    def __init__(self, c=8, k=3, kernels=4):
        super().__init__()
        self.in_channels = self.out_channels = self.groups = c
        self.kernel_size, self.padding, self.kernels = k, k // 2, kernels
        self.weight = nn.Parameter(torch.randn(kernels, c, 1, k, k))
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, kernels, 1),
                                       nn.Sigmoid())

    def forward(self, x):
        b, c, h, w = x.shape
        a = self.attention(x).view(b, self.kernels)
        kernel = (a @ self.weight.view(self.kernels, -1)).view(b * c, 1, *self.weight.shape[-2:])
        out = F.conv2d(x.reshape(1, b * c, h, w), kernel, padding=self.padding, groups=b * c)
        return out.view(b, c, h, w)


def test_hand_checked_convs_agree_under_every_convention():
    _, full = counts(nn.Conv2d(16, 32, 3, padding=1, bias=False), (16, 32, 32))
    assert set(full.values()) == {16 * 32 * 9 * 32 * 32} == {4_718_592}
    _, dw = counts(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), (32, 32, 32))
    assert set(dw.values()) == {294_912}


def test_bias_is_a_flop_not_a_mac():
    rep, c = counts(nn.Conv2d(16, 32, 3, padding=1), (16, 32, 32))
    assert rep.totals["macs"] == 4_718_592
    assert rep.totals["flops"] == 2 * 4_718_592 + 32 * 32 * 32
    assert c["paper-hook"] == 4_718_592 + 32 * 32 * 32  # the authors' tool added the bias
    assert c["paper-conv"] == c["fvcore"] == c["thop"] == 4_718_592


def test_dynamic_conv_costs_the_same_per_sample_as_its_static_shape():
    m = DynamicConv()
    one, _ = counts(m, (8, 16, 16), batch=1)
    four, _ = counts(m, (8, 16, 16), batch=4)
    assert four.totals["macs_per_sample"] == one.totals["macs_per_sample"]
    static = 8 * 9 * 16 * 16
    mixing = 4 * 8 * 9  # a [B, K] @ [K, numel(W)] mm: K * numel(W) per sample
    attention = 8 * 16 * 16 + 8 * 4  # global average pool + the 1x1 conv
    assert one.totals["macs"] == static + mixing + attention
    # thop cannot see the functional conv; paper-hook counts the kernel bank at its static shape
    assert four.totals["thop"] < four.count("archlab") - 4 * static
    assert four.row("").counts["paper-hook"] >= 4 * static
    # thop's gap, computed from what each saw: the functional conv is archlab's alone
    conv = next(p for p in four.coverage["gaps"]["thop"]["parts"] if p["category"] == "conv")
    assert (conv["count"], conv["archlab"]) == (4 * 8 * 4, 4 * static + 4 * 8 * 4)
    assert conv["counted"] == "Conv2d 128" and conv["archlab_counted"].startswith("aten.conv2d")
    why = reconcile(four).set_index("module").loc["", "why"]
    assert "thop: -74.8 k in all = conv -73.7 k (128 vs 73.9 k)" in why


class Functional(nn.Module):
    def forward(self, x):
        b, c, h, w = x.shape
        y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        s = torch.softmax(x.flatten(2), dim=-1)  # (B, C, HW)
        g = torch.einsum("bcn,bdn->bcd", s, x.flatten(2))  # (B, C, C)
        return torch.matmul(g, x.flatten(2)).view(b, c, h, w) + y[..., ::2, ::2]


def test_functional_ops_are_counted_by_their_formulas():
    rep, _ = counts(Functional(), (4, 8, 8), batch=2)
    n = 2 * 4 * 64
    bilinear, einsum, matmul = 4 * 2 * 4 * 16 * 16, 2 * 4 * 4 * 64, 2 * 4 * 64 * 4
    assert rep.totals["macs"] == bilinear + einsum + matmul
    assert rep.totals["flops"] == 2 * rep.totals["macs"] + 3 * n + n  # softmax 3/elem, add 1/elem
    for op in ("aten.upsample_bilinear2d", "aten._softmax", "aten.einsum", "aten.matmul"):
        assert op in rep.coverage["counted"] or op.replace("_softmax", "softmax") in \
            rep.coverage["counted"]
    assert rep.totals["thop"] == 0 and rep.totals["paper-hook"] == 0


class Sorts(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=-1).values * 2


def test_every_op_lands_in_one_bucket_and_uncounted_ops_are_reported():
    rep, _ = counts(Sorts(), (4, 8), conventions=("archlab",))
    cov = rep.coverage
    assert cov["uncounted"]["aten.sort"]["calls"] == 1
    assert 0 < cov["uncounted"]["aten.sort"]["traffic_share"] < 1
    assert cov["uncounted_traffic_share"] == cov["uncounted"]["aten.sort"]["traffic_share"]
    assert cov["counted"] == {"aten.mul": 1}
    assert any(n.startswith("uncounted: aten.sort") for n in rep.notes)


def test_register_formula_counts_a_new_op():
    register_formula(torch.ops.aten.sort, lambda args, kwargs, out: args[0].numel() * 3)
    try:
        rep, _ = counts(Sorts(), (4, 8), conventions=("archlab",))
        assert rep.coverage["uncounted"] == {}
        assert rep.totals["macs"] == 96 and rep.totals["flops"] == 2 * 96 + 32
        with pytest.raises(ValueError, match="replace=True"):
            register_formula("aten::sort", lambda a, k, o: 0)
    finally:
        unregister_formula(torch.ops.aten.sort)
    with pytest.raises(ValueError, match="replace=True"):
        register_formula("aten::conv2d", lambda a, k, o: 0)


class Shared(nn.Module):
    """One ReLU and one conv used twice: the paper-hook tool kept the LAST call only."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.relu = nn.ReLU()
        self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.up = nn.Upsample(scale_factor=2)
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Linear(36, 5)

    def forward(self, x):
        a = self.relu(self.conv(x))
        b = self.relu(self.conv(self.bn(self.down(x))))  # second calls at the half size
        y = a + self.up(b)
        return self.fc(self.pool(y).flatten(1))


def test_paper_hook_counts_each_leaf_once_at_its_last_call():
    rep, c = counts(Shared(), (4, 10, 10))
    conv_last = 4 * 4 * 5 * 5
    relu_last = 4 * 5 * 5
    down = 4 * 4 * 9 * 5 * 5
    bn = 2 * 4 * 5 * 5
    up = 10 * 10  # B * Hout * Wout: the channels are dropped
    pool = 4 * sum(r + 1 for r in (4, 4, 4)) ** 2  # 10 -> 3 windows of 4 rows (overlapping)
    fc = 36 * 5 + 5
    assert c["paper-hook"] == conv_last + relu_last + down + bn + up + pool + fc
    assert c["paper-conv"] == 4 * 4 * 100 + conv_last + down + 36 * 5  # every call, no bias
    assert rep.row("relu").counts["paper-hook"] == relu_last


def test_params_are_hierarchical_and_shared_ones_count_once():
    inner = nn.Linear(3, 3)
    model = nn.Sequential(nn.Sequential(inner, nn.ReLU()), nn.Sequential(inner), nn.Linear(3, 2))
    rep = profile_module(model, (3,), conventions=("archlab",), **FAST)
    assert rep.totals["params"] == 12 + 8 == sum(p.numel() for p in model.parameters())
    assert rep.row("0").params == rep.row("1").params == 12 and rep.row("2").params == 8
    assert [r.name for r in rep.rows] == [n for n, _ in model.named_modules()]
    tied = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    tied[1].weight = tied[0].weight
    rep = profile_module(tied, (3,), conventions=("archlab",), **FAST)
    assert rep.totals["params"] == 9 and rep.row("1").params == 9


def test_activation_bytes_match_the_output_shapes_of_a_conv_stack():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                          nn.Conv2d(16, 4, 1))
    rep = profile_module(model, (3, 16, 16), batch=2, latency=False)
    outs = [2 * 8 * 16 * 16, 2 * 16 * 8 * 8, 2 * 4 * 8 * 8]
    assert [r.act_bytes for r in rep.rows[1:]] == [4 * n for n in outs]
    assert rep.totals["act_bytes"] == 4 * sum(outs)
    assert rep.totals["activations"] == sum(outs)
    # the first output is freed once the second exists: peak = the two largest alive together
    assert rep.totals["peak_bytes"] == 4 * (outs[0] + outs[1])
    assert rep.row("2").peak_bytes == 4 * (outs[1] + outs[2])


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))

    def forward(self, x):
        return self.body(x).mean()


def test_profiling_leaves_the_model_untouched():
    model = Mixed()
    model.body[1].eval()  # a model may mix modes: each flag must come back as it was
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = hook_count(model)
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    before = model(x)
    model.train()
    model.body[1].eval()
    rep = profile_module(model, (3, 8, 8), batch=2, warmup=1, budget_s=0.2,
                         module_iters=2)
    assert [m.training for m in model.modules()] == flags
    assert hook_count(model) == hooks == 0
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert not any(hasattr(m, "total_ops") for m in model.modules())  # thop ran on a copy
    model.eval()
    assert torch.equal(model(x), before)
    assert rep.totals["latency_n"] >= 1 and not [n for n in rep.notes if n.startswith("error")]


def test_report_fields_and_json_round_trip():
    rep = profile_module(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (3, 8, 8), batch=2,
                         threads=1, warmup=1, budget_s=0.2, module_iters=2,
                         model_name="tiny", spec={"k": (1, 2)})
    assert Report.from_json(rep.to_json()) == rep
    for key in ("params", "macs", "flops", "macs_per_sample", "flops_per_sample", "act_bytes",
                "peak_bytes", "latency_ms", "latency_p10_ms", "latency_p90_ms",
                "latency_iqr_ms", "latency_n", *DEFAULT_CONVENTIONS[1:]):
        assert rep.totals[key] is not None, key
    for key in ("device", "device_name", "threads", "dtype", "memory_format", "torch",
                "archlab", "fvcore", "thop", "python", "platform", "date", "cudnn_benchmark",
                "tf32", "conventions"):
        assert key in rep.env, key
    assert rep.env["threads"] == 1 and rep.input == {"shape": [3, 8, 8], "batch": 2, "mode": "eval",
                                                      "arguments": [{"path": "args[0]",
                                                                     "shape": [2, 3, 8, 8],
                                                                     "dtype": "float32"}],
                                                      "dtype": "float32",
                                                      "memory_format": "contiguous"}
    tm = rep.timing
    assert set(tm) >= {"op_ms", "overhead_ms", "instrumentation_ms", "op_scale", "op_passes",
                       "instrumented_ms", "reliable", "warnings", "load_before", "load_after",
                       "cpu_share", "spread", "cores", "threads", "median_ms", "iqr_ms", "p10_ms",
                       "p90_ms", "number_per_run"}
    assert tm["op_ms"] + tm["overhead_ms"] == pytest.approx(tm["median_ms"], rel=1e-9)
    assert tm["reliable"] == (tm["warnings"] == []) and tm["threads"] == 1
    assert tm["n"] == rep.totals["latency_n"] == tm["op_passes"] >= 4  # the same rounds
    assert rep.model == "tiny" and rep.spec == {"k": [1, 2]}
    assert list(rep.to_frame().columns) == [
        "module", "parent", "type", "depth", "params", "trainable_params", "input_shape",
        "output_shape", "calls", "macs", "flops", "act_bytes", "latency_ms", "latency_ms_p10",
        "latency_ms_p90", "self_ms", "self_ms_p10", "self_ms_p90", "page_faults",
        "peak_bytes", *ROOFLINE, *(f"macs[{c}]" for c in DEFAULT_CONVENTIONS[1:])]
    assert [r.parent for r in rep.rows] == [None, "", ""]
    assert set(rep.conventions) == set(DEFAULT_CONVENTIONS)
    assert rep.conventions["paper-hook"]["divisor"] == 2 ** 20 and rep.conventions["archlab"]["rule"]


def test_channels_last_profiles_a_model_with_kernel_banks():
    model = DynamicConv()  # its 5-D bank made Module.to(memory_format=...) refuse the model
    rep = profile_module(model, (8, 16, 16), memory_format="channels_last", **FAST)
    assert rep.input["memory_format"] == "channels_last" and rep.totals["macs"] > 0
    assert model.attention[1].weight.is_contiguous()  # given back in the contiguous format


def test_thread_count_is_restored():
    before = torch.get_num_threads()
    rep = profile_module(nn.Linear(4, 4), (4,), threads=1, conventions=("archlab",),
                         warmup=0, budget_s=0.1, per_module=False)
    assert rep.env["threads"] == 1 and torch.get_num_threads() == before


# ---------------------------------------------------------------- operator time per module

class Nested(nn.Module):
    """A container (body) that runs no op of its own, a leaf called twice, and the model's own op."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1))
        self.act = nn.ReLU()

    def forward(self, x):
        y = self.act(self.body(x))
        return self.act(y) * 2  # the mul belongs to the model itself


@pytest.fixture(scope="module")
def timed():
    return profile_module(Nested(), (3, 32, 32), batch=2, conventions=("archlab",), warmup=1,
                          budget_s=0.1, module_iters=3)


def test_operator_times_add_up_to_op_ms(timed):
    rows, tm = timed.rows, timed.timing
    assert sum(r.self_ms for r in rows) == pytest.approx(tm["op_ms"], rel=1e-12)
    assert timed.row("").latency_ms == pytest.approx(tm["op_ms"], rel=1e-12)
    assert tm["op_passes"] >= 4 and len(tm["op_ms_per_pass"]) == tm["op_passes"]  # >= MIN_ROUNDS
    assert all(r.self_ms > 0 for r in rows if r.name in ("", "body.0", "body.1", "body.2", "act"))


def test_a_container_runs_no_operator_of_its_own(timed):
    assert timed.row("body").self_ms == 0.0


def test_inclusive_latency_is_self_plus_children(timed):
    by = {r.name: r for r in timed.rows}
    for r in timed.rows:
        kids = [c for n, c in by.items() if n and n.rpartition(".")[0] == r.name and n != r.name]
        if r.name == "":
            kids = [by["body"], by["act"]]
        assert r.latency_ms == pytest.approx(r.self_ms + sum(c.latency_ms for c in kids),
                                             rel=1e-12), r.name


def test_recorder_leaves_no_hook_and_sees_every_call():
    from archlab.profile.core.hooks import ModuleTable
    from archlab.profile.timing.budgets import PROFILE
    from archlab.profile.timing.operators import time_operators

    model = Nested().eval()
    table = ModuleTable(model)
    x = torch.randn(1, 3, 8, 8)
    with torch.inference_mode():
        got = time_operators(lambda: model(x), table, torch.device("cpu"),
                             budget=PROFILE.but(warmup=1, min_rounds=2, max_rounds=2, budget_s=60))
    per_pass, samples = got["per_pass"]["forward"], got["rounds"].samples
    walls = [1e-3 * w for w in samples["instrumented"]]
    assert len(per_pass) == len(walls) == len(samples["plain"]) == 2 and hook_count(model) == 0
    act = table.names.index("act")
    assert all(p[act] > 0 and p[table.names.index("body")] == 0 for p in per_pass)
    assert all(sum(p) < w for p, w in zip(per_pass, walls))  # operators inside the call's time


# ---------------------------------------------------------------- paired timing (the harness: test_timing.py)

class SeesInput(nn.Module):
    """Remembers the inputs and the training flag of every call."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.seen = []

    def forward(self, x):
        self.seen.append((x.clone(), self.training, torch.is_inference_mode_enabled()))
        return self.conv(x)


def test_paired_latency_feeds_both_the_same_input_in_eval_mode_and_restores_them():
    model, base = SeesInput(), SeesInput()
    base.eval()  # each keeps its own mode afterwards
    threads = torch.get_num_threads()
    got = paired_latency(model, base, (3, 4, 4), batch=2, threads=1, warmup=1, rounds=3, budget_s=60)
    assert got["n"] == 3 and got["threads"] == 1 and got["order"] == "rotated each round"
    assert set(got) >= {"ratio", "ratio_p10", "ratio_p90", "model_ms", "base_ms", "device",
                        "reliable", "warnings", "cpu_share", "load_before", "number_per_run"}
    # warm-up, then 3 rounds of one block each (a call this short is timed in blocks)
    assert len(model.seen) == len(base.seen) == 1 + 3 * got["number_per_run"]
    assert all(torch.equal(x, model.seen[0][0]) for x, _, _ in model.seen + base.seen)
    assert all(not training and inference for _, training, inference in model.seen + base.seen)
    assert model.training and not base.training and torch.get_num_threads() == threads


def test_side_by_side_models_rejects_what_is_not_a_module():
    with pytest.raises(ValueError, match="nn.Module"):
        time_models_side_by_side({"a": lambda x: x}, (3,))


@pytest.mark.parametrize("kwargs, error", [
    (dict(module="not a module"), ValueError),
    (dict(conventions=("flops",)), ValueError),
    (dict(input_size=(3, -1)), ValueError),
    (dict(batch=0), ValueError),
    (dict(device="tpu"), ValueError),
    (dict(budget_s=2.0, max_s=1.0), ValueError),
    (dict(module_iters=0), ValueError),
    (dict(cuda_graph=True), ValueError),
])
def test_caller_errors_raise_one_clear_line(kwargs, error):
    args = dict(module=nn.Linear(3, 3), input_size=(3,), **FAST)
    args.update(kwargs)
    with pytest.raises(error) as exc:
        profile_module(args.pop("module"), args.pop("input_size"), **args)
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_fails_up_front():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        profile_module(nn.Linear(3, 3), (3,), device="cuda")


class Broken(nn.Module):
    def __init__(self, error):
        super().__init__()
        self.ok = nn.Conv2d(3, 3, 1)
        self.bad = nn.Sequential(nn.ReLU(), _Raise(error))
        self.error = error

    def forward(self, x):
        return self.bad(self.ok(x))


class _Raise(nn.Module):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def forward(self, x):
        raise self.error


@pytest.mark.parametrize("error, words", [(ValueError("shapes do not match"), "ValueError"),
                                          (RuntimeError("CUDA out of memory. Tried"),
                                           "out of memory")])
def test_a_failing_forward_is_reported_and_params_kept(error, words):
    model = Broken(error)
    rep = profile_module(model, (3, 4, 4), on_error="record")
    assert hook_count(model) == 0
    assert rep.totals["params"] == 12 and rep.row("ok").params == 12
    errors = [n for n in rep.notes if n.startswith("error: ")]
    assert len(errors) == 1 and words in errors[0] and "'bad.1'" in errors[0]
    assert words in rep.row("bad.1").error and rep.row("").error
    assert rep.totals["macs"] is None and rep.totals["latency_ms"] is None
    assert rep.row("ok").macs == 4 * 4 * 9 and rep.row("bad.0").act_bytes == 4 * 3 * 16
    assert rep.row("bad").macs is None and rep.row("").macs is None  # interrupted: not measured
    assert rep.coverage["partial"] and rep.coverage["counted"]["aten.conv2d"] == 1
    assert Report.from_json(rep.to_json()) == rep


def test_a_failing_forward_raises_a_profile_error_carrying_the_partial_report():
    import archlab

    with pytest.raises(archlab.ProfileError, match="'bad.1'.*ValueError: boom") as exc:
        archlab.profile(Broken(ValueError("boom")), (3, 4, 4))
    assert "\n" not in str(exc.value)
    partial = exc.value.report
    assert partial.row("ok").macs == 4 * 4 * 9 and partial.totals["macs"] is None


class Interrupts(nn.Module):
    """Raises KeyboardInterrupt (as Ctrl-C would) on its n-th call."""

    def __init__(self, at: int):
        super().__init__()
        self.conv, self.at, self.calls = nn.Conv2d(3, 4, 3), at, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.conv(x)


def test_ctrl_c_during_timing_keeps_the_counts_in_an_incomplete_report():
    import archlab
    from archlab.results import merge_latency

    with pytest.raises(archlab.ProfileInterrupted) as exc:
        profile_module(Interrupts(at=3), (3, 8, 8), conventions=("archlab",), warmup=1,
                       budget_s=0.1)  # call 1 counts, calls 2.. time
    partial = exc.value.report
    assert not partial.complete and partial.totals["macs"] == 4 * 27 * 36
    assert partial.totals["latency_ms"] is None
    assert any(n.startswith("incomplete: interrupted after counting") for n in partial.notes)
    assert Report.from_json(partial.to_json()) == partial  # it can be stored as it is
    timed = profile_module(Interrupts(at=0), (3, 8, 8), conventions=("archlab",), count=False,
                           warmup=1, budget_s=0.1, module_iters=3)
    assert timed.totals["macs"] is None and timed.totals["latency_ms"] > 0
    whole = merge_latency(partial, timed)
    assert whole.complete and whole.totals["macs"] == 4 * 27 * 36 and whole.totals["latency_ms"] > 0
    assert whole.row("conv").self_ms > 0 and whole.row("conv").macs == 4 * 27 * 36
    assert not any(n.startswith("incomplete") for n in whole.notes)


class FailsAboveBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        if x.shape[0] > 2:
            raise RuntimeError("CUDA out of memory (simulated)")
        return self.conv(x)


def test_sweep_is_one_table_and_keeps_failed_rows():
    df = sweep(FailsAboveBatch(), [(3, 8, 8), (3, 12, 12)], [1, 4], warmup=0,
               budget_s=0.2)
    assert list(zip(df["input"], df["batch"])) == [("3x8x8", 1), ("3x8x8", 4), ("3x12x12", 1),
                                                   ("3x12x12", 4)]
    assert df.loc[0, "macs"] == 2 * 27 * 36 and df.loc[2, "macs"] == 2 * 27 * 100
    assert df["error"].isna().tolist() == [True, False, True, False]
    assert "out of memory" in df.loc[1, "error"]
    assert df.loc[0, "latency_ms"] > 0


def test_reconcile_shows_every_convention_and_why():
    rep, _ = counts(Shared(), (4, 10, 10))
    table = reconcile(rep)
    assert list(table.columns) == ["module", "type", "depth", *DEFAULT_CONVENTIONS, "max/min", "why"]
    bn = table.set_index("module").loc["bn", "why"]  # a BN over 100 elements, counted 5 ways
    assert "fvcore: +100 in all = norm +100 (200 vs 100)" in bn
    assert "thop: +300 in all = norm +300 (400 vs 100)" in bn  # not fvcore's rule: its own
    assert "paper-conv: -100 in all = norm -100 (0 vs 100)" in bn
    relu = table.set_index("module").loc["relu", "why"]
    assert relu == "paper-hook: +100 in all = elementwise +100 (100 vs 0)"  # last call: 4x5x5


def test_every_explanation_adds_up_to_the_gap_it_explains():
    rep, c = counts(Shared(), (4, 10, 10))
    gaps = rep.coverage["gaps"]
    assert set(gaps) == {k for k in c if k != "archlab" and c[k] != c["archlab"]}
    for conv, gap in gaps.items():
        assert gap["gap"] == c[conv] - c["archlab"], conv
        assert sum(p["count"] - p["archlab"] for p in gap["parts"]) == gap["gap"], conv
        assert any(n.startswith(f"{conv} vs archlab: ") for n in rep.notes)
    fv = [n for n in rep.notes if n.startswith("fvcore counted 0 for traced ops")][0]
    assert "aten::add x1 (dispatch-level calls: 1)" in fv  # the trace's count beside dispatch's


def test_fvcore_and_thop_are_the_tools_own_numbers():
    from fvcore.nn import FlopCountAnalysis
    from thop import profile as thop_profile
    import copy

    model = Shared().eval()
    x = torch.randn(1, 4, 10, 10)
    rep, c = counts(model, (4, 10, 10))
    fca = FlopCountAnalysis(model, x).unsupported_ops_warnings(False)
    assert c["fvcore"] == fca.total()
    assert rep.row("bn").counts["fvcore"] == fca.by_module()["bn"]
    assert c["thop"] == int(thop_profile(copy.deepcopy(model), inputs=(x,), verbose=False)[0])
    assert "aten::add" in rep.coverage["skipped"]["fvcore"]


class BadFormula(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=0)


def test_a_failing_formula_lands_in_the_ledger_not_in_a_crash():
    register_formula(torch.ops.aten.cumsum, lambda a, k, o: 1 / 0, replace=True)
    try:
        rep, _ = counts(BadFormula(), (4,), conventions=("archlab",))
    finally:
        unregister_formula(torch.ops.aten.cumsum)
    assert "ZeroDivisionError" in rep.coverage["uncounted"]["aten.cumsum"]["error"]
    assert any("its formula failed" in n for n in rep.notes)


@pytest.mark.parametrize("eq, shapes, macs", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 2 * 3 * 4 * 5),
    ("...ij,...jk", [(6, 3, 4), (6, 4, 5)], 6 * 3 * 4 * 5),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], 2 * 3 * 4 + 2 * 4 * 5),
])
def test_einsum_contraction_cost(eq, shapes, macs):
    assert einsum_macs(eq, shapes)[0] == macs


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_profile_uses_events_and_allocator_peaks():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3))
    rep = profile_module(model, (3, 32, 32), batch=4, device="cuda", budget_s=1)
    assert rep.env["device"].startswith("cuda") and rep.env["tf32"] is not None
    assert "cudnn_benchmark" in rep.env
    assert "CUDA events" in rep.timing["method"] and rep.timing["cpu_share"] is None
    assert rep.totals["peak_bytes"] >= 4 * 4 * 8 * 32 * 32
    assert next(model.parameters()).device.type == "cpu"  # moved back
    assert rep.row("0").self_ms > 0 and rep.row("2").self_ms > 0  # CUDA events per operator
    assert sum(r.self_ms for r in rep.rows) == pytest.approx(rep.timing["op_ms"], rel=1e-9)
    assert rep.row("").self_ms == 0 or rep.row("").self_ms < rep.row("0").self_ms


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_whole_model_as_a_cuda_graph():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    rep = profile_module(model, (3, 32, 32), batch=2, device="cuda", budget_s=0.5,
                         per_module=False, cuda_graph=True)
    assert "CUDA graph" in rep.timing["method"] and rep.timing["median_ms"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_paired_latency_times_on_the_gpu_and_moves_the_models_back():
    model, base = nn.Conv2d(3, 16, 3), nn.Conv2d(3, 8, 3)
    got = paired_latency(model, base, (3, 64, 64), batch=4, device="cuda", rounds=4, budget_s=5)
    assert got["n"] == 4 and got["device"].startswith("cuda") and got["ratio"] > 0
    assert next(model.parameters()).device.type == next(base.parameters()).device.type == "cpu"


class FakeAllocator:
    """Stands in for the CUDA caching allocator's counters (no GPU here)."""

    def __init__(self, start):
        self.allocated = self.peak = start

    def alloc(self, n):
        self.allocated += n
        self.peak = max(self.peak, self.allocated)

    def install(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: self.allocated)
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: self.peak)
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                            lambda d=None: setattr(self, "peak", self.allocated))


def test_cuda_peaks_survive_the_resets_of_nested_modules(monkeypatch):
    from archlab.profile.core.memory import CudaPeaks

    fake = FakeAllocator(100)  # parameters and input: excluded
    fake.install(monkeypatch)
    peaks = CudaPeaks(torch.device("cuda", 0))
    peaks.enter()          # model
    fake.alloc(50)
    peaks.enter()          # child a: +30 then freed
    fake.alloc(30)
    fake.alloc(-30)
    a = peaks.exit()
    fake.alloc(10)
    peaks.enter()          # child b: +5
    fake.alloc(5)
    b = peaks.exit()
    model = peaks.exit()
    assert (a, b, model) == (80, 65, 80) and peaks.peak == 80


def test_reliability_rules_in_words():
    from archlab.profile.timing.reliability import verdict

    quiet = {"cpu_share": 0.97, "threads": 1, "cores": 2, "load_after": [0.2, 0.1, 0.1]}
    assert verdict(quiet, 0.05, 20) == (True, [])
    ok, why = verdict({**quiet, "cpu_share": 0.5, "load_after": [1.9, 1.0, 0.5]}, 0.3, 2)
    assert not ok and why == [
        "spread (IQR / median) 30% > 10%",
        "only 2 timed samples (< 4): give it a longer --budget",
        "CPU share 50% < 80% (other work took the cores, load average 1.90 on 2 cores)"]
    ok, why = verdict({**quiet, "threads": 4, "cpu_share": 0.5}, 0.05, 20)
    assert why == ["CPU share 50% < 80% (more threads than cores)", "4 threads > 2 usable cores"]
