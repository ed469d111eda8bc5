"""Formulas of the fused attention and recurrent kernels that a training step (or a GPU) runs: the
backward of every scaled_dot_product_attention backend, the backend-specific forwards that name
their inputs differently, and the recurrent layers' backends (oneDNN, cuDNN, MIOpen) forward and
backward. Rules in words are beside their registration in ops.py.

A fused kernel counts as the ops it runs. The SDPA math backend keeps the attention weights P for
its backward, which it runs as bmm + _softmax_backward_data (counted by the table); every fused
backend keeps only the softmax's log-sum-exp and recomputes P = exp(Q K^T * scale - lse) inside
its backward, to save memory, so its backward also costs QK^T once more (as activation
checkpointing's recomputed forward is counted in the backward; torch's FlopCounterMode counts it
too).
"""
from __future__ import annotations

from .formulas import GRU_PER_UNIT, LSTM_PER_UNIT, RNN_PER_UNIT, _recurrent


# --- attention ----------------------------------------------------------------------------------
def _scores(q, k, *, heads_first: bool) -> int:
    """Attention scores of one call: batch x query heads x L x S. Layouts: (B, H, L, E) for the
    scaled_dot_product_* ops, (B, L, H, E) for the _flash/_efficient_attention_* kernels; keys may
    have fewer heads than queries (grouped-query attention), which changes no score count."""
    rows = q.numel() // q.shape[-1]  # B x H x L query vectors
    return rows * (k.shape[-2] if heads_first else k.shape[1])


def attention_backward_cost(scores: int, e: int, ev: int, needs=(True, True, True), *,
                            recompute: bool = True) -> tuple[int, int]:
    """(macs, flops) of the backward of softmax(Q K^T) V for the gradients asked for, per score:
    with `recompute` (a fused kernel), P again: QK^T (e MACs), then exp(s - lse) (2 FLOPs);
    dV = P^T dO (ev); dP = dO V^T (ev) and the softmax backward dS = P (dP - rowsum(dP P)) (1 MAC,
    2 FLOPs), both needed by dQ or dK; dQ = dS K (e); dK = dS^T Q (e)."""
    need_q, need_k, need_v = (bool(n) for n in needs)
    per_score = (ev if need_v else 0) + (e if need_q else 0) + (e if need_k else 0)
    scores_grad = need_q or need_k
    if scores_grad:
        per_score += ev + 1  # dP, then the rowsum's multiply-add of the softmax backward
    if recompute:
        per_score += e
    macs = scores * per_score
    return macs, 2 * macs + scores * ((2 if scores_grad else 0) + (2 if recompute else 0))


def sdpa_backward(*, mask_at: int | None = None, heads_first: bool = True):
    """The backward ops of SDPA: (grad_out, query, key, value, ...) with, for the efficient and the
    overridable kernels, a grad_input_mask at `mask_at` (q, k, v[, bias])."""
    def formula(args, kwargs, out):
        q, k, v = args[1], args[2], args[3]
        needs = tuple(args[mask_at])[:3] if mask_at is not None else (True, True, True)
        return attention_backward_cost(_scores(q, k, heads_first=heads_first), q.shape[-1],
                                       v.shape[-1], needs)
    return formula


def attention_blhd(args, kwargs, out):
    """_flash_attention_forward / _efficient_attention_forward: (query, key, value, ...) as
    (B, L, H, E): the forward as sdpa counts it (QK^T and AV; softmax 3 FLOPs a score)."""
    q, k, v = args[0], args[1], args[2]
    scores = _scores(q, k, heads_first=False)
    macs = scores * (q.shape[-1] + v.shape[-1])
    return macs, 2 * macs + 3 * scores


# --- recurrent layers ---------------------------------------------------------------------------
# elementwise FLOPs per hidden unit and token of an LSTM cell's backward: through h = o*tanh(c)
# (do, d tanh(c), dc += .. * (1 - tanh^2): 5), through c = f*c + i*g (df, di, dg, dc_prev: 4), the
# four gate nonlinearities (3 sigmoid_backward + 1 tanh_backward at 2 each: 8), and adding the two
# paths into dh (1)
LSTM_BACKWARD_PER_UNIT = 5 + 4 + 8 + 1
# GRU: through h = n + z*(h - n) (dn, dz, dh: 4), n = tanh(i_n + r*h_n) (tanh_backward 2, dr,
# dh_n: 2), two sigmoid_backward (4), adding the paths into dh (1)
GRU_BACKWARD_PER_UNIT = 4 + 4 + 4 + 1
RNN_BACKWARD_PER_UNIT = 2 + 1  # tanh_backward (or relu's mask), adding the paths into dh

# cuDNN's and MIOpen's mode numbers -> (gates, forward FLOPs per unit, backward FLOPs per unit)
_MODES = {0: (1, RNN_PER_UNIT, RNN_BACKWARD_PER_UNIT),
          1: (1, RNN_PER_UNIT, RNN_BACKWARD_PER_UNIT),
          2: (4, LSTM_PER_UNIT, LSTM_BACKWARD_PER_UNIT),
          3: (3, GRU_PER_UNIT, GRU_BACKWARD_PER_UNIT)}


def _tokens(x) -> int:
    return x.numel() // x.shape[-1]  # time steps x samples (the data rows of a packed sequence)


def _backward(tokens: int, matrices, bias_rows: int, units: int, per_unit: int, *, data: bool,
              weights: bool) -> tuple[int, int]:
    """A recurrent layer's backward: every gate matrix once for the data gradients (input and
    hidden state: W^T dgates) and once for its weight gradient (dgates x^T), one MAC per entry per
    token each; the bias gradient sums the gate gradients over tokens (1 FLOP per bias row and
    token); `per_unit` FLOPs of gate math per unit and token."""
    entries = tokens * sum(w.numel() for w in matrices)
    macs = entries * (int(data) + int(weights))
    return macs, 2 * macs + (tokens * bias_rows if weights else 0) + tokens * units * per_unit


def mkldnn_rnn_layer_backward(args, kwargs, out):
    """One LSTM layer and direction under oneDNN: (input, w_ih, w_hh, b_ih, b_hh, hx, cx, output,
    hy, cy, grad_output, grad_hy, grad_cy, reverse, mode, hidden_size, num_layers, has_biases, ...).
    oneDNN computes every gradient (it takes no mask)."""
    x, w_ih, w_hh, hidden = args[0], args[1], args[2], int(args[15])
    gates = w_ih.shape[0] // hidden
    if gates != 4:  # oneDNN runs only LSTMs for PyTorch
        raise ValueError(f"mkldnn_rnn_layer_backward with {gates} gates is not an LSTM")
    return _backward(_tokens(x), (w_ih, w_hh), w_ih.shape[0] if args[17] else 0, hidden,
                     LSTM_BACKWARD_PER_UNIT, data=True, weights=True)


def _stacked(params, mode: int, hidden: int, layers: int, bidirectional: bool):
    gates, fwd, bwd = _MODES[int(mode)]
    units = layers * (2 if bidirectional else 1) * hidden
    matrices = [p for p in params if p.dim() == 2]
    biases = [p for p in params if p.dim() == 1]
    return gates, fwd, bwd, units, matrices, biases


def cudnn_rnn(args, kwargs, out):
    """_cudnn_rnn(input, weight[], weight_stride0, weight_buf, hx, cx, mode, hidden_size, proj_size,
    num_layers, batch_first, dropout, train, bidirectional, ...): the whole stack, as lstm / gru."""
    _, fwd, _, units, matrices, biases = _stacked(args[1], args[6], int(args[7]), int(args[9]),
                                                  bool(args[13]))
    return _recurrent(_tokens(args[0]), matrices, biases, units, fwd)


def miopen_rnn(args, kwargs, out):
    """miopen_rnn(input, weight[], weight_stride0, hx, cx, mode, hidden_size, num_layers,
    batch_first, dropout, train, bidirectional, ...)."""
    _, fwd, _, units, matrices, biases = _stacked(args[1], args[5], int(args[6]), int(args[7]),
                                                  bool(args[11]))
    return _recurrent(_tokens(args[0]), matrices, biases, units, fwd)


def rnn_stack_backward(*, mode_at: int, hidden_at: int, layers_at: int, bidirectional_at: int,
                       mask_at: int):
    """_cudnn_rnn_backward / miopen_rnn_backward: (input, weight[], ...) with an output_mask
    (input, hx, cx, weight): the data gradients run whenever any is asked for, the weight
    gradients when the mask's last entry asks."""
    def formula(args, kwargs, out):
        _, _, bwd, units, matrices, biases = _stacked(
            args[1], args[mode_at], int(args[hidden_at]), int(args[layers_at]),
            bool(args[bidirectional_at]))
        mask = [bool(m) for m in args[mask_at]]
        rows = biases[0].shape[0] * (len(biases) // 2) if biases else 0  # one sum per bias pair
        return _backward(_tokens(args[0]), matrices, rows, units, bwd, data=any(mask[:3]),
                         weights=mask[3])
    return formula
