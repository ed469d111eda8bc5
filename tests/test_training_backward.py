"""The backward of attention and recurrent layers counted against hand formulas, every SDPA backend
(those the CPU reaches run; the others' formulas are called on their schema's arguments), the
backward's own ledger, the default train call, and a training step's time that adds up."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archlab
from archlab.profile import profile_module
from archlab.profile.count import ops

COUNT = dict(mode="train", latency=False, memory=False, conventions=("archlab", "torchvision"))
aten = torch.ops.aten


def train(model, size, batch, **kw):
    return profile_module(model, size, batch=batch, **{**COUNT, **kw})


# --- attention ----------------------------------------------------------------------------------
class LinearThenMHA(nn.Module):
    """A linear first, so the attention's input needs a gradient (as inside any network)."""

    def __init__(self, d=16, heads=4, need_weights=True):
        super().__init__()
        self.lin, self.need_weights = nn.Linear(d, d), need_weights
        self.mha = nn.MultiheadAttention(d, heads, batch_first=True)

    def forward(self, x):
        h = self.lin(x)
        return self.mha(h, h, h, need_weights=self.need_weights)[0]


def test_multi_head_attention_after_a_linear():
    b, n, d, heads = 2, 5, 16, 4
    scores, e = b * heads * n * n, d // heads
    projections = 4 * b * n * d * d  # q, k, v and out
    # weights returned: the math path, which keeps P; its backward is bmm + _softmax_backward_data:
    # every projection twice (input and weight gradients), dV, dP, dQ, dK, and 1 MAC a score
    math = train(LinearThenMHA(need_weights=True), (n, d), b).row("mha")
    assert math.macs == projections + 2 * scores * e + scores  # + the mean over heads' weights
    assert math.macs_backward == 2 * projections + scores * (4 * e + 1)
    # no weights: the fused CPU flash kernel, which recomputes QK^T in its backward
    fused = train(LinearThenMHA(need_weights=False), (n, d), b)
    assert fused.row("mha").macs == projections + 2 * scores * e
    assert fused.row("mha").macs_backward == 2 * projections + scores * (5 * e + 1)
    assert "aten._scaled_dot_product_flash_attention_for_cpu_backward" in \
        fused.coverage["backward"]["counted"]


class LinearThenSDPA(nn.Module):
    def __init__(self, d=8, heads=2):
        super().__init__()
        self.qkv, self.heads = nn.Linear(d, 3 * d), heads

    def forward(self, x):  # (B, L, D)
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v)  # (B, H, L, E)


def _reachable_backends():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q = torch.randn(1, 1, 4, 4, requires_grad=True)
    out = []
    for name, backend in SDPBackend.__members__.items():
        if name == "ERROR":
            continue
        try:
            with sdpa_kernel(backend):
                F.scaled_dot_product_attention(q, q, q).sum().backward()
            out.append(backend)
        except RuntimeError:  # no kernel of this backend on this device
            pass
    return out


@pytest.mark.parametrize("backend", _reachable_backends(), ids=str)
def test_every_sdpa_backend_the_cpu_reaches(backend):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    b, n, d, heads = 2, 7, 8, 2
    scores, e = b * heads * n * n, d // heads
    with sdpa_kernel(backend):
        rep = train(LinearThenSDPA(d, heads), (n, d), b)
    linear = b * n * 3 * d * d
    assert rep.row("").macs == linear + 2 * scores * e
    recompute = 0 if backend == SDPBackend.MATH else scores * e  # a fused kernel recomputes QK^T
    # the input needs no gradient: the projection's weight gradient only
    assert rep.row("").macs_backward == linear + scores * (4 * e + 1) + recompute
    assert rep.coverage["backward"]["uncounted"] == {}


def _meta(*shape):
    return torch.empty(*shape, device="meta")


@pytest.mark.parametrize("op, args, per_score", [
    # (B, H, L, E) = (2, 3, 5, 4), S = 6, Ev = 8, per score: the recomputed QK^T (E) + dV (Ev)
    # + dP (Ev) + the softmax backward (1) + dQ (E) + dK (E) = 29
    (aten._scaled_dot_product_flash_attention_backward.default,
     lambda g, q, k, v: (g, q, k, v, g, None, None, None, 5, 6, 0.0, False, None, None), 29),
    (aten._scaled_dot_product_cudnn_attention_backward.default,
     lambda g, q, k, v: (g, q, k, v, g, None, None, None, None, None, None, 5, 6, 0.0, False), 29),
    (aten._scaled_dot_product_efficient_attention_backward.default,  # dV not asked for
     lambda g, q, k, v: (g, q, k, v, None, g, None, None, None, 0.0, [True, True, False, False]),
     21),
    (aten._scaled_dot_product_fused_attention_overrideable_backward.default,  # dV only
     lambda g, q, k, v: (g, q, k, v, None, [False, False, True, False]), 12),
])
def test_sdpa_backward_formulas_of_the_gpu_backends(op, args, per_score):
    """Kernels no CPU runs: their formulas on the arguments their schemas give (meta tensors)."""
    g, q, k, v = _meta(2, 3, 5, 8), _meta(2, 3, 5, 4), _meta(2, 3, 6, 4), _meta(2, 3, 6, 8)
    e = ops.entry(op)
    assert e.kind == ops.COUNTED and e.category == "matmul"
    macs, flops = e.formula(args(g, q, k, v), {}, None)
    assert macs == 2 * 3 * 5 * 6 * per_score and flops > 2 * macs


def test_the_batch_sequence_heads_layout_of_the_lower_kernels():
    q, k, v = _meta(2, 5, 3, 4), _meta(2, 6, 3, 4), _meta(2, 6, 3, 8)  # (B, L, H, E)
    fwd = ops.entry(aten._efficient_attention_forward.default).formula((q, k, v), {}, None)
    bwd = ops.entry(aten._flash_attention_backward.default).formula(
        (_meta(2, 5, 3, 8), q, k, v), {}, None)
    assert fwd[0] == 180 * (4 + 8) and bwd[0] == 180 * 29  # 180 scores: 2 x 3 heads x 5 x 6


# --- recurrent layers ---------------------------------------------------------------------------
class LinearThenRNN(nn.Module):
    def __init__(self, cls):
        super().__init__()
        self.lin = nn.Linear(6, 8)
        self.rnn = cls(8, 16, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, x):
        return self.rnn(self.lin(x))[0]


@pytest.mark.parametrize("cls, gates", [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
def test_recurrent_backward(cls, gates):
    b, t, hidden = 2, 5, 16
    tokens = b * t
    per_direction = gates * hidden * (8 + hidden) + gates * hidden * (2 * hidden + hidden)
    forward = tokens * 2 * per_direction  # two layers, two directions each
    row = train(LinearThenRNN(cls), (t, 6), b).row("rnn")
    assert row.macs == forward
    if cls is nn.LSTM:  # one oneDNN kernel per layer and direction: every gradient, h0's too
        assert row.macs_backward == 2 * forward
    else:  # autograd's mm ops: twice, except the initial hidden state's (no gradient needed)
        assert row.macs_backward == 2 * forward - 2 * 2 * b * gates * hidden * hidden


def test_cudnn_rnn_backward_formula_follows_its_mask():
    """_cudnn_rnn_backward (no CPU kernel): data gradients, plus the weights' when asked for."""
    w = [_meta(64, 8), _meta(64, 16), _meta(64), _meta(64)]  # one LSTM layer, one direction
    x = _meta(5, 2, 8)
    args = lambda mask: (x, w, 4, None, None, None, None, None, None, None, 2, 16, 0, 1, False,
                         0.0, True, False, [], None, None, mask)
    f = ops.entry(aten._cudnn_rnn_backward.default).formula
    assert f(args([True, True, True, True]), {}, None)[0] == 2 * 10 * 64 * 24
    assert f(args([True, True, True, False]), {}, None)[0] == 10 * 64 * 24
    fwd = ops.entry(aten._cudnn_rnn.default).formula(
        (x, w, 4, None, None, None, 2, 16, 0, 1, False, 0.0, True, False, [], None), {}, None)
    assert fwd[0] == 10 * 64 * 24


# --- the backward's ledger, the default call, the step's time ----------------------------------
class TwiceBackward(torch.autograd.Function):
    """x -> 2x, whose backward runs an op with no formula (lgamma), and nothing the forward runs."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad + 0 * torch.lgamma(grad.abs() + 1)


class Twice(nn.Module):
    def forward(self, x):
        return TwiceBackward.apply(x)


def test_an_op_only_the_backward_runs_is_in_the_backward_ledger(tmp_path):
    from archlab.report.summary import summary_markdown

    rep = train(nn.Sequential(nn.Linear(4, 4), Twice()), (4,), 2)
    assert "aten.lgamma" not in rep.coverage["uncounted"]  # the forward never ran it
    assert rep.coverage["backward"]["uncounted"]["aten.lgamma"]["calls"] == 1
    assert set(rep.coverage["backward"]) >= {"counted", "free", "uncounted", "categories",
                                             "uncounted_traffic_share", "traffic_bytes"}
    assert any(n.startswith("uncounted in the backward: aten.lgamma") for n in rep.notes)
    back = summary_markdown(rep).split("### Backward")[1]
    assert "| `aten.lgamma` | 1 |" in back
    again = archlab.load_report(rep.save(tmp_path / "report.json"))
    assert again.coverage["backward"]["uncounted"]["aten.lgamma"]["calls"] == 1


def test_the_default_train_call_uses_the_conventions_that_count_a_backward():
    rep = archlab.profile(nn.Linear(3, 2), input_size=(3,), batch=2, mode="train", latency=False)
    assert set(rep.conventions) == {"archlab", "paper-hook", "paper-conv", "torchvision"}
    assert rep.totals["macs_backward"] == 2 * 3 * 2  # the weight gradient
    assert any("fvcore, thop left out" in n for n in rep.notes)
    with pytest.raises(ValueError, match="thop count inference only"):
        archlab.profile(nn.Linear(3, 2), input_size=(3,), mode="train", conventions=("thop",))


def test_a_training_step_and_its_plot_add_up():
    from archlab.report.latency import latency_split
    from archlab.report.plots.training import plot_training

    rep = profile_module(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3)),
                         (3, 24, 24), batch=2, mode="train", warmup=1, budget_s=0.2,
                         module_iters=3, sgd=True, memory=False)
    median = rep.totals["latency_ms"]
    parts = dict(latency_split(rep))
    assert parts["framework overhead"] >= 0
    assert sum(v for k, v in parts.items() if k != "operators") == pytest.approx(median, rel=1e-6)
    fig = plot_training(rep)
    bars = sum(p.get_width() for p in fig.axes[1].patches)
    assert bars == pytest.approx(median, rel=1e-6)
