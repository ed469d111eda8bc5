"""Training profiles: backward MACs and bytes saved for backward, hand-computed on small nets; the
backward's conv and matrix-product MACs checked against torch's FlopCounterMode; activation
checkpointing; the model left as found."""
import pytest
import torch
from torch import nn

from archlab.blocks.dynamic import KernelAggregation
from archlab.profile import profile_module

COUNT = dict(mode="train", latency=False, memory=False, conventions=("archlab", "torchvision"))


def train(model, size, batch, **kw):
    return profile_module(model, size, batch=batch, **{**COUNT, **kw})


def test_a_conv_on_the_image_costs_its_forward_once_backward_the_next_twice():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Conv2d(8, 8, 1, bias=False),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False))
    rep = train(model, (3, 8, 8), 2)
    # forward: 2x8x64 outputs x 27, x 8, x 9 multiply-adds
    assert [r.macs for r in rep.rows[1:]] == [27_648, 8_192, 9_216]
    # the image needs no gradient: the first conv computes its weight gradient only
    assert [r.macs_backward for r in rep.rows[1:]] == [27_648, 2 * 8_192, 2 * 9_216]
    # each saves its input: the image (2x3x64 floats), then the previous output (2x8x64)
    assert [r.saved_bytes for r in rep.rows[1:]] == [1_536, 4_096, 4_096]
    assert rep.totals["macs_step"] == 45_056 + 27_648 + 16_384 + 18_432


def test_linear_and_relu_save_their_input_and_output():
    rep = train(nn.Sequential(nn.Linear(1024, 1024), nn.ReLU()), (1024,), 64)
    assert rep.row("0").saved_bytes == 262_144 and rep.row("1").saved_bytes == 262_144
    assert rep.totals["saved_bytes"] == 524_288  # the weight is a parameter: not counted
    assert rep.row("0").macs_backward == 64 * 1024 * 1024  # weight gradient only
    assert rep.row("1").macs_backward == 0  # a ReLU's gradient is FLOPs, no multiply-add


def test_batch_norm_with_batch_statistics():
    model = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    rep = train(model, (3, 8, 8), 2)
    n = 2 * 8 * 64
    assert rep.row("1").macs == 2 * n  # training: statistics computed, 2 MACs per element
    assert rep.row("1").macs_backward == 2 * n  # the two reductions of its gradient
    # its input, and the batch mean and inverse std (8 floats each); the running statistics and
    # the affine weight are the model's own
    assert rep.row("1").saved_bytes == 4 * n + 32 + 32
    assert rep.row("2").saved_bytes == 4 * n


class Attention(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):  # (B, N, D)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v


def test_matmul_attention():
    rep = train(Attention(), (16, 8), 2)
    linear, qk, av, softmax = 2 * 16 * 24 * 8, 2 * 16 * 16 * 8, 2 * 16 * 8 * 16, 2 * 16 * 16
    assert rep.row("").macs == linear + qk + av
    # the input needs no gradient: the projection's weight gradient only; both products twice
    assert rep.row("").macs_backward == linear + 2 * qk + softmax + 2 * av


class Aggregated(nn.Module):
    """A kernel-aggregation conv fed by a conv (its input needs a gradient) and learned weights."""

    def __init__(self):
        super().__init__()
        self.pre = nn.Conv2d(4, 4, 1, bias=False)
        self.logits = nn.Parameter(torch.zeros(1, 3))
        self.agg = KernelAggregation(4, 4, 3, padding=1, groups=4, num_kernels=3)

    def forward(self, x):
        return self.agg(self.pre(x), self.logits.expand(x.shape[0], 3))


def test_the_dynamic_kernel_aggregation_conv():
    rep = train(Aggregated(), (4, 6, 6), 2)
    mixing = 2 * 3 * 36  # (B, K) @ (K, Cout*Cin/g*k*k)
    conv = 2 * 4 * 36 * 9  # per-sample depthwise 3x3
    assert rep.row("agg").macs == mixing + conv
    # both products get both gradients: the attention's and the bank's, the input's and the kernel's
    assert rep.row("agg").macs_backward == 2 * (mixing + conv)


def test_training_leaves_the_model_as_found():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model[0].weight.grad = torch.ones_like(model[0].weight)
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    profile_module(model, (3, 8, 8), batch=2, mode="train", conventions=("archlab",), warmup=1,
                   budget_s=0.1, module_iters=3, sgd=True)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # BN stats too
    assert torch.equal(model[0].weight.grad, torch.ones_like(model[0].weight))
    assert model[1].bias.grad is None and not model.training


def test_a_timed_training_profile_adds_up():
    rep = profile_module(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (3, 16, 16), batch=2,
                         mode="train", conventions=("archlab",), warmup=1, budget_s=0.1,
                         module_iters=3)
    tm, rows = rep.timing, rep.rows
    assert rep.input["mode"] == "train" and "training steps" in tm["method"]
    assert tm["op_ms"] == pytest.approx(sum(r.self_ms + r.self_ms_backward for r in rows))
    assert tm["op_ms_backward"] == pytest.approx(sum(r.self_ms_backward for r in rows))
    assert rows[1].latency_ms_backward > 0 and rep.totals["peak_bytes"] > 0


@pytest.mark.parametrize("conventions, message", [(("fvcore",), "count inference only"),
                                                  (("archlab",), None)])
def test_train_mode_takes_the_recorder_conventions(conventions, message):
    if message:
        with pytest.raises(ValueError, match=message):
            train(nn.Linear(2, 2), (2,), 1, conventions=conventions)
    else:
        assert train(nn.Linear(2, 2), (2,), 1, conventions=conventions).totals["macs_backward"] == 4


def test_activation_checkpointing_trades_memory_for_recomputation():
    import archlab

    plain, cp = (train(archlab.build(n), (3, 64, 64), 2) for n in ("lite18", "lite18_cp"))
    assert cp.totals["macs_forward"] == plain.totals["macs_forward"]
    assert cp.totals["saved_bytes"] < plain.totals["saved_bytes"]
    assert cp.totals["macs_backward"] > plain.totals["macs_backward"]  # the recomputed forward


def test_recomputation_and_a_weights_file_are_separate_settings_of_build(tmp_path):
    import archlab

    path = tmp_path / "lite18.pth"
    torch.save(archlab.build("lite18").state_dict(), path)
    model = archlab.build("lite18", recompute="blocks", checkpoint=path)
    assert model.loaded_checkpoint is not None
    assert str(model) == str(archlab.build("lite18_cp"))


def _conv_backward_with_groups(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding,
                               _dilation, transposed, _output_padding, groups, output_mask,
                               out_shape, **kwargs):
    """FlopCounterMode's own convolution_backward formula, with its weight gradient divided by the
    groups (its source says it leaves groups out there; a depthwise conv's would be C times)."""
    from torch.utils.flop_counter import conv_backward_flop as wrapped

    conv_backward_flop = wrapped.__wrapped__  # the formula itself, on shapes
    whole = conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding,
                               _dilation, transposed, _output_padding, groups, output_mask,
                               out_shape)
    weight_only = conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding,
                                     _dilation, transposed, _output_padding, groups,
                                     [False, output_mask[1], False], out_shape)
    return whole - weight_only + weight_only // groups


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hrnet_w32", "lite18"])
def test_conv_and_matrix_products_of_a_step_equal_flop_counter_mode(name):
    import archlab
    from torch.utils.flop_counter import FlopCounterMode

    from archlab.profile.train.autograd import loss_of

    spec = archlab.get_spec(name)
    rep = train(archlab.build(name), tuple(spec.input_size), 2)
    ours = rep.count("torchvision") + rep.totals["macs_backward[torchvision]"]
    model = archlab.build(name).train()
    grouped = any(m.groups > 1 for m in model.modules() if isinstance(m, nn.Conv2d))
    counter = FlopCounterMode(display=False, custom_mapping={
        torch.ops.aten.convolution_backward: _conv_backward_with_groups} if grouped else None)
    with counter:
        loss_of(model(torch.randn(2, *spec.input_size))).backward()
    assert 2 * ours == counter.get_total_flops()  # FLOPs are 2 per multiply-add there
