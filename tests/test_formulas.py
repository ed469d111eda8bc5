"""Fused and spectral operators counted by hand: multi-head attention, the transformer encoder
layer's fast path, recurrent layers and cells, FFTs, torchvision's roi_align, and the ops that do
no arithmetic. Each expected number is written out from the rule, never computed by the formula;
where PyTorch can also run the op as smaller ops the table already counts, both counts agree."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archlab.profile import profile_module
from archlab.profile.count.ops import describe

FAST = dict(conventions=("archlab",), latency=False, memory=False)
# torch's notices on the oneDNN path, not about the counts
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning",
                                        "ignore:TF32 acceleration:UserWarning")


def profile(model, size, batch=1):
    rep = profile_module(model, size, batch=batch, **FAST)
    assert rep.coverage["uncounted"] == {}
    return rep


@pytest.fixture
def decomposed(monkeypatch):
    """Profile outside inference mode (plain no_grad), where PyTorch runs recurrent layers cell by
    cell as addmm, mm and elementwise ops, and torch.fft.* as its _fft_r2c / _fft_c2r / _fft_c2c."""
    monkeypatch.setattr(torch, "inference_mode", torch.no_grad)


# --- multi-head attention ------------------------------------------------------------------------
class SelfAttention(nn.Module):
    def __init__(self, mha, need_weights, seq_first=False):
        super().__init__()
        self.mha, self.need_weights, self.seq_first = mha, need_weights, seq_first

    def forward(self, x):  # x: (B, L, E)
        if self.seq_first:  # (L, B, E): nn.MultiheadAttention then runs unfused
            x = x.transpose(0, 1)
        return self.mha(x, x, x, need_weights=self.need_weights)[0]


def test_fused_attention_counts_projections_and_both_products():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)  # E = 8, 2 heads of 4
    rep = profile(SelfAttention(mha, need_weights=False), (5, 8), batch=3)  # B = 3, L = S = 5
    assert rep.coverage["counted"] == {"aten._native_multi_head_attention": 1}
    # q, k, v: 3*15*8*8 = 2880; out: 3*5*8*8 = 960; scores 3*2*5*5 = 150, QK^T + AV: 150*2*4 = 1200
    assert rep.totals["macs"] == 2880 + 960 + 1200 == 5040
    # biases: 3*15*8 + 3*5*8 = 480; softmax 3*150 = 450
    assert rep.totals["flops"] == 2 * 5040 + 480 + 450 == 11010
    rep = profile(SelfAttention(mha, need_weights=True), (5, 8), batch=3)
    assert rep.totals["macs"] == 5040 + 150  # the weights averaged over heads: one per score
    assert rep.totals["flops"] == 2 * 5190 + 480 + 450


@pytest.mark.parametrize("need_weights", [False, True])
def test_fused_attention_equals_the_same_attention_run_unfused(need_weights):
    torch.manual_seed(0)
    fused = nn.MultiheadAttention(8, 2, batch_first=True)
    unfused = copy.deepcopy(fused)
    unfused.batch_first = False  # same weights; not batch first, so no fast path
    a = profile(SelfAttention(fused, need_weights), (5, 8), batch=3)
    b = profile(SelfAttention(unfused, need_weights, seq_first=True), (5, 8), batch=3)
    assert set(a.coverage["counted"]) == {"aten._native_multi_head_attention"}
    assert "aten.linear" in b.coverage["counted"]
    assert a.totals["macs"] == b.totals["macs"] == (5190 if need_weights else 5040)
    # with weights the unfused path scales q by 1/sqrt(4) as a mul: B*L*E = 3*5*8 FLOPs that
    # scaled_dot_product_attention (and so the fused op) does not count
    assert b.totals["flops"] - a.totals["flops"] == (120 if need_weights else 0)


class EncoderLayerFastPath(nn.Module):
    """Calls the encoder layer's fused kernel itself: nn.TransformerEncoderLayer takes it only when
    no hook is attached, and a profile attaches hooks."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        l, a = self.layer, self.layer.self_attn
        return torch._transformer_encoder_layer_fwd(
            x, a.embed_dim, a.num_heads, a.in_proj_weight, a.in_proj_bias, a.out_proj.weight,
            a.out_proj.bias, l.activation_relu_or_gelu == 2, l.norm_first, l.norm1.eps,
            l.norm1.weight, l.norm1.bias, l.norm2.weight, l.norm2.bias, l.linear1.weight,
            l.linear1.bias, l.linear2.weight, l.linear2.bias)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_fast_path_counts_as_its_parts(activation):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True,
                                       activation=activation)
    fused = profile(EncoderLayerFastPath(layer), (5, 8), batch=3)
    assert fused.coverage["counted"] == {"aten._transformer_encoder_layer_fwd": 1}
    # attention 5040; FFN 3*5*16*8 twice = 3840; two layer norms at 2 MACs x 120 elements = 480
    assert fused.totals["macs"] == 5040 + 3840 + 480 == 9360
    # attention 11010; FFN 2*3840 + biases 240 + 120 + activation 240; norms 2*6*120; adds 2*120
    assert fused.totals["flops"] == 11010 + 7680 + 600 + 1440 + 240 == 20970
    parts = profile(layer, (5, 8), batch=3)
    assert "aten.layer_norm" in parts.coverage["counted"]
    assert (parts.totals["macs"], parts.totals["flops"]) == (9360, 20970)


# --- recurrent layers ----------------------------------------------------------------------------
class Recurrent(nn.Module):
    def __init__(self, rnn, lengths=None):
        super().__init__()
        self.rnn, self.lengths = rnn, lengths

    def forward(self, x):
        if self.lengths is not None:
            x = nn.utils.rnn.pack_padded_sequence(x, self.lengths, batch_first=True)
        out = self.rnn(x)[0]
        return out.data if self.lengths is not None else out


# input (B=3, T=7, 6): 21 tokens; layer 0 sees 6 inputs, layer 1 sees 2 directions x 4 = 8
RECURRENT = [
    # LSTM: (4*4*(6+4) + 4*4*(8+4)) x 2 directions = 704 a token; biases 4 x 32; 13 x 16 units
    ("lstm", nn.LSTM, {}, 21 * 704, 2 * 21 * 704 + 21 * 128 + 21 * 13 * 16),
    # GRU: (3*4*10 + 3*4*12) x 2 = 528 a token; biases 4 x 24; 10 x 16 units
    ("gru", nn.GRU, {}, 21 * 528, 2 * 21 * 528 + 21 * 96 + 21 * 10 * 16),
    # RNN: (4*10 + 4*12) x 2 = 176 a token; biases 4 x 8; 2 x 16 units
    ("rnn_tanh", nn.RNN, {}, 21 * 176, 2 * 21 * 176 + 21 * 32 + 21 * 2 * 16),
    ("rnn_relu", nn.RNN, {"nonlinearity": "relu", "bias": False}, 21 * 176,
     2 * 21 * 176 + 21 * 2 * 16),
    # proj_size 3: w_ih 16x6 (both layers: 2 x 3 inputs after the first), w_hh 16x3, w_hr 3x4:
    # 156 a layer and direction
    ("lstm", nn.LSTM, {"proj_size": 3}, 21 * 4 * 156, 2 * 21 * 624 + 21 * 128 + 21 * 13 * 16),
]
RECURRENT_IDS = [op + "".join(f"-{k}={v}" for k, v in kw.items()) for op, _, kw, _, _ in RECURRENT]


@pytest.mark.parametrize("op,cls,kw,macs,flops", RECURRENT, ids=RECURRENT_IDS)
def test_recurrent_layers_count_gate_products_per_token_layer_and_direction(op, cls, kw, macs,
                                                                              flops):
    torch.manual_seed(0)
    rnn = cls(6, 4, num_layers=2, bidirectional=True, batch_first=True, **kw)
    rep = profile(Recurrent(rnn), (7, 6), batch=3)
    assert rep.coverage["counted"] == {f"aten.{op}": 1}
    assert (rep.totals["macs"], rep.totals["flops"]) == (macs, flops)


@pytest.mark.parametrize("op,cls,kw,macs,flops", RECURRENT, ids=RECURRENT_IDS)
@pytest.mark.parametrize("onednn", [False, True])
def test_recurrent_layers_equal_their_cell_by_cell_run(decomposed, onednn, op, cls, kw, macs,
                                                       flops):
    torch.manual_seed(0)
    rnn = cls(6, 4, num_layers=2, bidirectional=True, batch_first=True, **kw)
    with torch.backends.mkldnn.flags(enabled=onednn):  # oneDNN runs the plain LSTM layer by layer
        rep = profile(Recurrent(rnn), (7, 6), batch=3)
    ops = set(rep.coverage["counted"])
    assert f"aten.{op}" not in ops
    assert ops == {"aten.mkldnn_rnn_layer"} or "aten.mm" in ops
    assert (rep.totals["macs"], rep.totals["flops"]) == (macs, flops)


def test_packed_sequences_count_their_tokens_only():
    rnn = nn.LSTM(6, 4, batch_first=True)
    rep = profile(Recurrent(rnn, lengths=[7, 5, 2]), (7, 6), batch=3)
    assert rep.coverage["counted"] == {"aten.lstm": 1}
    # 14 tokens x 4*4*(6+4) = 2240 MACs; biases 14 x 32; 13 x 4 units
    assert (rep.totals["macs"], rep.totals["flops"]) == (2240, 4480 + 448 + 728)


class Cell(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x):
        out = self.cell(x)
        return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("op,cell,macs,flops", [
    ("lstm_cell", nn.LSTMCell(6, 4), 3 * 160, 2 * 480 + 3 * 32 + 3 * 13 * 4),
    ("gru_cell", nn.GRUCell(6, 4), 3 * 120, 2 * 360 + 3 * 24 + 3 * 10 * 4),
    ("rnn_relu_cell", nn.RNNCell(6, 4, nonlinearity="relu"), 3 * 40, 2 * 120 + 3 * 8 + 3 * 2 * 4),
    ("rnn_tanh_cell", nn.RNNCell(6, 4, bias=False), 3 * 40, 2 * 120 + 3 * 2 * 4),
])
def test_recurrent_cells_count_one_step_per_sample(op, cell, macs, flops):
    rep = profile(Cell(cell), (6,), batch=3)
    assert rep.coverage["counted"] == {f"aten.{op}": 1}
    assert (rep.totals["macs"], rep.totals["flops"]) == (macs, flops)


# --- FFT -----------------------------------------------------------------------------------------
def _complex(x):
    return x.to(torch.complex64)


# input (2, 4, 8, 8); 5 N log2 N per transform, 2.5 N log2 N when the input or output is real
FFTS = [
    ("rfft2", torch.fft.rfft2, 2.5 * 8 * 64 * 6),  # 8 transforms of 8x8 = 64 points
    ("irfft2", lambda x: torch.fft.irfft2(torch.fft.rfft2(x)), 2 * 2.5 * 8 * 64 * 6),
    ("fft2 complex", lambda x: torch.fft.fft2(_complex(x)), 5 * 8 * 64 * 6),
    ("fft2 real", torch.fft.fft2, 5 * 8 * 64 * 6),  # a real input is made complex first
    ("fft real", torch.fft.fft, 2.5 * 64 * 8 * 3),  # 64 transforms of 8 points, real input
    ("ifft complex", lambda x: torch.fft.ifft(_complex(x)), 5 * 64 * 8 * 3),
    ("rfft n=16", lambda x: torch.fft.rfft(x, n=16), 2.5 * 64 * 16 * 4),  # zero-padded to 16
    ("irfft n=8", lambda x: torch.fft.irfft(_complex(x)[..., :5], n=8), 2.5 * 64 * 8 * 3),
    ("fftn dims 1,3", lambda x: torch.fft.fftn(_complex(x), dim=(1, 3)), 5 * 16 * 32 * 5),
    ("rfftn s=(4,4)", lambda x: torch.fft.rfftn(x, s=(4, 4)), 2.5 * 8 * 16 * 4),  # trimmed
    ("ihfft", torch.fft.ihfft, 2.5 * 64 * 8 * 3),
    ("hfft n=8", lambda x: torch.fft.hfft(_complex(x), n=8), 2.5 * 64 * 8 * 3),
]


class Spectral(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        y = self.fn(x)
        return y.real if y.is_complex() else y


@pytest.mark.parametrize("name,fn,flops", FFTS, ids=[f[0] for f in FFTS])
@pytest.mark.parametrize("run", ["inference", "no_grad"])
def test_ffts_cost_five_n_log2_n_flops_and_no_macs(request, run, name, fn, flops):
    if run == "no_grad":
        request.getfixturevalue("decomposed")
    rep = profile(Spectral(fn), (4, 8, 8), batch=2)
    fft_ops = [k for k in rep.coverage["counted"] if "fft" in k]
    prefix = "aten.fft_" if run == "inference" else "aten._fft_"
    assert fft_ops and all(k.startswith(prefix) for k in fft_ops)
    assert set(rep.coverage["counted"]) == set(fft_ops)  # the casts and .real are free
    assert rep.totals["macs"] == 0
    assert rep.totals["flops"] == int(flops)


def test_fft_flops_of_a_length_that_is_not_a_power_of_two_are_rounded():
    rep = profile(Spectral(lambda x: torch.fft.fft(_complex(x))), (6,))
    assert rep.totals["flops"] == 78  # 5 * 6 * log2(6) = 77.55


# --- torchvision::roi_align ----------------------------------------------------------------------
class RoIAlign(nn.Module):
    def __init__(self, boxes, **kw):
        super().__init__()
        self.register_buffer("boxes", torch.tensor(boxes, dtype=torch.float32))
        self.kw = kw

    def forward(self, x):
        from torchvision.ops import roi_align
        return roi_align(x, self.boxes, output_size=(2, 2), **self.kw)


# boxes (batch index, x1, y1, x2, y2): 8 wide x 4 high, and 3 wide x 9 high; 2 channels, 2x2 bins
BOXES = [[0, 0, 0, 8, 4], [0, 2, 2, 5, 11]]


@pytest.mark.parametrize("kw,points", [
    # adaptive: ceil(4/2)*ceil(8/2) = 8 and ceil(9/2)*ceil(3/2) = 10 points per bin
    ({"spatial_scale": 1.0, "sampling_ratio": -1}, 8 + 10),
    ({"sampling_ratio": 2}, 4 + 4),
    # half scale, aligned: 2 high x 4 wide -> 1*2; 4.5 high x 1.5 wide -> 3*1
    ({"spatial_scale": 0.5, "sampling_ratio": 0, "aligned": True}, 2 + 3),
])
def test_roi_align_counts_four_macs_per_bilinear_sample(kw, points):
    pytest.importorskip("torchvision")
    rep = profile(RoIAlign(BOXES, **kw), (2, 16, 16))
    assert rep.coverage["counted"] == {"torchvision.roi_align": 1}
    macs = 4 * 2 * 4 * points  # 4 per sample point x 2 channels x 4 bins
    assert (rep.totals["macs"], rep.totals["flops"]) == (macs, 2 * macs + 2 * 2 * 4)


def test_roi_align_has_a_rule_without_torchvision():
    assert ("torchvision.roi_align", "upsample") in {r[:2] for r in describe()}


# --- ops that do no arithmetic -------------------------------------------------------------------
class NoArithmetic(nn.Module):
    def forward(self, x):  # x: (B, 4, 6)
        y = F.dropout(x.clone(), 0.5, training=False, inplace=True)
        y = F.alpha_dropout(y, 0.5, training=False, inplace=True)
        y = F.feature_alpha_dropout(y, 0.5, training=False)
        y.detach_()
        gy, gx = torch.meshgrid(torch.arange(4), torch.arange(6), indexing="ij")
        z = torch.view_as_complex(y.reshape_as(torch.empty(y.shape[0], 12, 2)))
        z = z.conj().resolve_conj().resolve_neg()
        parts = torch.view_as_real(z), z.real, z.imag, y.clone().transpose_(1, 2)
        torch._has_compatible_shallow_copy_type(y, x)
        return parts, gy, gx


def test_ops_without_arithmetic_are_free_and_leave_no_uncounted_entry():
    rep = profile(NoArithmetic(), (4, 6), batch=2)
    free = rep.coverage["free"]
    for op in ("dropout_", "alpha_dropout_", "feature_alpha_dropout", "detach_", "meshgrid",
               "reshape_as", "view_as_complex", "view_as_real", "_conj", "resolve_conj",
               "resolve_neg", "real", "imag", "transpose_", "_has_compatible_shallow_copy_type"):
        assert free.get(f"aten.{op}", 0) >= 1, op
    assert rep.coverage["counted"] == {}
    assert (rep.totals["macs"], rep.totals["flops"]) == (0, 0)


def test_every_new_op_states_its_rule():
    rules = {name: rule for name, _, rule in describe()}
    for op in ("_native_multi_head_attention", "_transformer_encoder_layer_fwd", "lstm", "gru",
               "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell",
               "rnn_relu_cell", "mkldnn_rnn_layer", "_fft_r2c", "_fft_c2r", "_fft_c2c",
               "fft_rfft2", "fft_irfft2", "fft_fft2", "fft_fftn", "fft_fft"):
        assert rules[f"aten.{op}"] and rules[f"aten.{op}"] != rules["aten.view"], op
    assert "5 N log2(N)" in rules["aten.fft_rfft2"] and "FFTW" in rules["aten._fft_c2c"]
