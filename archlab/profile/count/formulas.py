"""The formulas of the archlab convention: each maps one op call to (macs, flops).

Signature of every formula: (args, kwargs, out) -> (macs, flops), with args and kwargs as the op
received them at the dispatch level and out what it returned. The rules in words are in ops.py.
"""
from __future__ import annotations

import math


def _prod(xs) -> int:
    return math.prod(int(x) for x in xs)


def _tuple(v, n: int) -> tuple:
    if isinstance(v, (list, tuple)):
        return tuple(v) if len(v) == n else tuple(v) * n
    return (v,) * n


# --- formulas: each returns (macs, flops) -------------------------------------------------------
def conv(args, kwargs, out):
    x, w = args[0], args[1]
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    transposed = bool(args[6]) if len(args) > 6 and isinstance(args[6], bool) else False
    kprod = _prod(w.shape[2:])
    # a transposed conv scatters every input element to Cout/g x k outputs; a conv gathers
    macs = (x.numel() if transposed else out.numel()) * w.shape[1] * kprod
    return macs, 2 * macs + (out.numel() if bias is not None else 0)


def conv_transpose(args, kwargs, out):
    x, w = args[0], args[1]
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    macs = x.numel() * w.shape[1] * _prod(w.shape[2:])
    return macs, 2 * macs + (out.numel() if bias is not None else 0)


def matmul(args, kwargs, out):
    a = args[0]
    k = a.shape[-1] if a.dim() else 1  # every output element is a dot product of length k
    macs = out.numel() * k
    return macs, 2 * macs


def addmm(args, kwargs, out):  # bias + a @ b
    macs = out.numel() * args[1].shape[-1]
    return macs, 2 * macs + out.numel()


def linear(args, kwargs, out):
    w = args[1]
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    macs = out.numel() * w.shape[-1]
    return macs, 2 * macs + (out.numel() if bias is not None else 0)


def einsum(args, kwargs, out):
    equation, operands = args[0], list(args[1])
    macs, reduced = einsum_macs(equation, [tuple(t.shape) for t in operands])
    return macs, 2 * macs + reduced


def einsum_macs(equation: str, shapes: list[tuple]) -> tuple[int, int]:
    """MACs of an einsum contracted pairwise left to right (torch's order without opt_einsum).

    A pairwise contraction costs one multiply-add per combination of all labels of both operands.
    A single operand that sums labels away costs one FLOP per input element (returned second).
    """
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    labelled = []
    for term, shape in zip(terms, shapes):
        if "..." in term:  # the ellipsis stands for the dims the explicit labels leave over
            n_ell = len(shape) - (len(term) - 3)
            term = term.replace("...", "".join(chr(0x100 + i) for i in range(n_ell - 1, -1, -1)))
        for lab, n in zip(term, shape):
            sizes[lab] = max(sizes.get(lab, 1), int(n))
        labelled.append(term)
    if "->" in eq:
        out_labels = set(rhs.replace("...", "".join(l for l in sizes if ord(l) >= 0x100)))
    else:
        once = [l for l in sizes if sum(t.count(l) for t in labelled) == 1]
        out_labels = set(once)
    if len(labelled) == 1:
        reduced = set(labelled[0]) - out_labels
        return 0, (_prod(sizes[l] for l in labelled[0]) if reduced else 0)
    macs, cur = 0, set(labelled[0])
    for i in range(1, len(labelled)):
        union = cur | set(labelled[i])
        macs += _prod(sizes[l] for l in union)
        later = set("".join(labelled[i + 1:]))
        cur = {l for l in union if l in out_labels or l in later}
    return macs, 0


def sdpa(args, kwargs, out):
    q, k, v = args[0], args[1], args[2]
    rows = q.numel() // q.shape[-1]  # batch x heads x L
    scores = rows * k.shape[-2]
    macs = scores * (q.shape[-1] + v.shape[-1])  # q @ k^T, then attn @ v
    return macs, 2 * macs + 3 * scores


def _batch_norm(batch_stats: bool, args, kwargs, out):
    """Running statistics (inference): one multiply-add per element. Batch statistics (training):
    as a norm that computes its statistics (norm_stats)."""
    if batch_stats:
        return norm_stats(args, kwargs, out)
    n = args[0].numel()
    return n, 2 * n


def batch_norm(args, kwargs, out):
    """(input, weight, bias, running_mean, running_var, training, ...): batch_norm,
    native_batch_norm, _native_batch_norm_legit(_functional), _batch_norm_impl_index, cudnn and
    miopen; the no_stats overload of _native_batch_norm_legit is (input, weight, bias, training,
    ...) and, having no running statistics, always normalises by the batch's. Without running
    statistics (None) the batch's are used whatever the flag says."""
    if isinstance(args[3], bool):  # _native_batch_norm_legit.no_stats
        return _batch_norm(True, args, kwargs, out)
    return _batch_norm(_arg(args, kwargs, 5, "training") is True or args[3] is None,
                       args, kwargs, out)


def batch_norm_with_update(args, kwargs, out):  # (input, weight, bias, running_mean, running_var,
    return _batch_norm(True, args, kwargs, out)  # momentum, eps): batch statistics, then updated


def batch_norm_no_update(args, kwargs, out):  # (input, weight, bias, running_mean?, running_var?,
    return _batch_norm(args[3] is None, args, kwargs, out)  # momentum, eps): the running ones if any


def batch_norm_no_training(args, kwargs, out):  # _native_batch_norm_legit_no_training: running
    return _batch_norm(False, args, kwargs, out)


def norm_stats(args, kwargs, out):  # layer/group/instance norm: statistics computed per sample
    n = args[0].numel()
    return 2 * n, 6 * n  # variance accumulation + normalise-and-affine; mean and x - mean: 2 flops


def adaptive_windows(in_sizes, out_sizes) -> int:
    """Total input cells read by adaptive pooling: the product over dims of the window lengths
    summed over output cells (windows may overlap when sizes do not divide)."""
    total = 1
    for n_in, n_out in zip(in_sizes, out_sizes):
        n_in, n_out = int(n_in), int(n_out)
        total *= sum(-(-((i + 1) * n_in) // n_out) - (i * n_in) // n_out for i in range(n_out))
    return total


def adaptive_avg(args, kwargs, out):
    x, size = args[0], args[1]
    nd = len(size) if isinstance(size, (list, tuple)) else 1
    lead = _prod(x.shape[: x.dim() - nd])
    macs = lead * adaptive_windows(x.shape[x.dim() - nd:], out.shape[out.dim() - nd:])
    return macs, 2 * macs


def adaptive_max(args, kwargs, out):
    out0 = out[0] if isinstance(out, (tuple, list)) else out
    macs, _ = adaptive_avg(args, kwargs, out0)
    return 0, macs  # comparisons only


def avg_pool(args, kwargs, out):
    nd = out.dim() - 2 if out.dim() >= 3 else 1
    k = _prod(_tuple(args[1], nd))
    macs = out.numel() * k
    return macs, 2 * macs


def max_pool(args, kwargs, out):
    out0 = out[0] if isinstance(out, (tuple, list)) else out
    nd = out0.dim() - 2 if out0.dim() >= 3 else 1
    return 0, out0.numel() * _prod(_tuple(args[1], nd))


def per_output(macs_each: int):
    def formula(args, kwargs, out):
        macs = out.numel() * macs_each
        return macs, 2 * macs
    return formula


def mean(args, kwargs, out):
    n = args[0].numel()
    return n, 2 * n


def reduce(args, kwargs, out):  # sum, amax, ... : one op per input element
    return 0, args[0].numel()


def elementwise(flops_each: int = 1):
    def formula(args, kwargs, out):
        o = out[0] if isinstance(out, (tuple, list)) else out
        return 0, o.numel() * flops_each
    return formula


def softmax(args, kwargs, out):
    return 0, 3 * out.numel()


def norm_vector(args, kwargs, out):
    n = args[0].numel()
    return n, 2 * n


def _arg(args, kwargs, i: int, name: str, default=None):
    """An argument by position or keyword (schema defaults are not filled in at dispatch)."""
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


# --- attention: the fused kernels counted as the ops they fuse ---------------------------------
def attention_cost(batch: int, q_len: int, kv_len: int, embed: int, *, heads: int,
                   in_bias: bool, out_bias: bool, head_average: bool) -> tuple[int, int]:
    """(macs, flops) of multi-head attention with packed projections, counted as its parts: the
    q, k, v and output linears, then scaled_dot_product_attention (QK^T and AV, softmax 3 FLOPs a
    score; the 1/sqrt(d) scaling is not counted there either), plus the mean over heads of the
    returned weights when they are averaged."""
    proj = batch * (q_len + 2 * kv_len) * embed * embed + batch * q_len * embed * embed
    scores = batch * heads * q_len * kv_len
    products = 2 * scores * (embed // heads)  # QK^T and AV, each head_dim per score
    average = scores if head_average else 0  # a mean: one MAC per averaged weight
    macs = proj + products + average
    biases = (batch * (q_len + 2 * kv_len) * embed if in_bias else 0) + \
        (batch * q_len * embed if out_bias else 0)
    return macs, 2 * macs + biases + 3 * scores


def native_mha(args, kwargs, out):
    q, k = args[0], args[1]  # (B, L, E), (B, S, E): the fused path is batch first
    embed, heads = int(args[3]), int(args[4])
    need_weights = _arg(args, kwargs, 10, "need_weights", True)
    average = _arg(args, kwargs, 11, "average_attn_weights", True)
    return attention_cost(q.shape[0], q.shape[1], k.shape[1], embed, heads=heads,
                          in_bias=args[6] is not None, out_bias=args[8] is not None,
                          head_average=bool(need_weights and average))


def transformer_encoder_layer(args, kwargs, out):
    src, embed, heads = args[0], int(args[1]), int(args[2])
    b, seq = src.shape[0], src.shape[1]
    macs, flops = attention_cost(b, seq, seq, embed, heads=heads, in_bias=args[4] is not None,
                                 out_bias=args[6] is not None, head_average=False)
    n = src.numel()
    hidden = b * seq * args[14].shape[0]  # elements of the feed-forward's inner activation
    ffn = 2 * hidden * embed  # linear1 then linear2
    macs += ffn + 2 * 2 * n  # two layer norms at 2 MACs per element
    flops += 2 * ffn + 2 * 6 * n + 2 * n  # the norms, then the two residual adds
    flops += (hidden if args[15] is not None else 0) + (n if args[17] is not None else 0)
    return macs, flops + hidden  # + the activation, one FLOP per inner element


# --- recurrent layers: per token (time step x sample), per layer and direction ------------------
def _recurrent(tokens: int, weights, biases, units: int, per_unit: int) -> tuple[int, int]:
    """weights: the gate (and projection) matrices, each one multiply-add per entry per token;
    biases: added once per token; units: hidden units over all layers and directions, each doing
    `per_unit` elementwise FLOPs of gate math per token."""
    macs = tokens * sum(w.numel() for w in weights)
    biases = tokens * sum(b.numel() for b in biases if b is not None)
    return macs, 2 * macs + biases + tokens * units * per_unit


def rnn(gates: int, per_unit: int):
    """aten.lstm / gru / rnn_tanh / rnn_relu, both overloads: .input(input, hx, params, has_biases,
    num_layers, dropout, train, bidirectional, batch_first) and .data(data, batch_sizes, hx,
    params, ...) for packed sequences, whose data rows are the tokens."""
    def formula(args, kwargs, out):
        x = args[0]
        at = 3 if isinstance(args[3], (list, tuple)) else 2  # where params sits
        params = args[at]
        layers, bidirectional = int(args[at + 2]), bool(args[at + 5])
        units = layers * (2 if bidirectional else 1) * (params[0].shape[0] // gates)
        return _recurrent(x.numel() // x.shape[-1], [p for p in params if p.dim() == 2],
                          [p for p in params if p.dim() == 1], units, per_unit)
    return formula


def rnn_cell(gates: int, per_unit: int):
    """aten.lstm_cell / gru_cell / rnn_tanh_cell / rnn_relu_cell: (input, hx, w_ih, w_hh, b_ih,
    b_hh)."""
    def formula(args, kwargs, out):
        x, w_ih, w_hh = args[0], args[2], args[3]
        biases = (_arg(args, kwargs, 4, "b_ih"), _arg(args, kwargs, 5, "b_hh"))
        return _recurrent(x.numel() // x.shape[-1], (w_ih, w_hh), biases, w_ih.shape[0] // gates,
                          per_unit)
    return formula


def mkldnn_rnn_layer(args, kwargs, out):
    """One layer and direction of an LSTM run by oneDNN (outside inference mode on CPU):
    (input, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode, hidden_size, ...)."""
    x, w_ih, w_hh = args[0], args[1], args[2]
    has_biases = bool(args[12])
    gates = w_ih.shape[0] // int(args[10])
    if gates != 4:  # oneDNN runs only LSTMs for PyTorch; another mode would need its own gate math
        raise ValueError(f"mkldnn_rnn_layer with {gates} gates (mode {args[9]}) is not an LSTM")
    return _recurrent(x.numel() // x.shape[-1], (w_ih, w_hh),
                      (args[3], args[4]) if has_biases else (), int(args[10]), LSTM_PER_UNIT)


# elementwise FLOPs per hidden unit and token, as the reference cells compute them:
# LSTM: add the input and hidden products (4 gates), 3 sigmoids, tanh, c = f*c + i*g (3),
# h = o*tanh(c) (2)
LSTM_PER_UNIT = 4 + 3 + 1 + 3 + 2
# GRU: add the products of r and z (2), 2 sigmoids, n = tanh(i_n + r*h_n) (3), h = n + z*(h - n) (3)
GRU_PER_UNIT = 2 + 2 + 3 + 3
# RNN: add the input and hidden products, then tanh or relu
RNN_PER_UNIT = 1 + 1


# --- FFT: 5 N log2 N real FLOPs per complex transform of N points, half for real data -----------
def _fft_flops(signal_shape, dims, real: bool) -> int:
    n = _prod(signal_shape[d] for d in dims)
    if n <= 1:
        return 0
    transforms = _prod(signal_shape) // n
    return round((2.5 if real else 5.0) * transforms * n * math.log2(n))


def fft(args, kwargs, out):
    """ATen's own transforms: _fft_r2c(self, dim, ...), _fft_c2r(self, dim, ...), _fft_c2c."""
    x, dims = args[0], [int(d) % args[0].dim() for d in args[1]]
    real_out = not out.is_complex()
    signal = out.shape if real_out else x.shape  # the full-length side: the real output of c2r
    return 0, _fft_flops(signal, dims, real=real_out or not x.is_complex())


def fft_named(default_dim, *, promotes: bool = False):
    """torch.fft.* as called (self, n or s, dim, norm); default_dim -1 (1-D), [-2, -1] (2-D) or
    None (n-D: all dims, or the last len(s)). promotes: a real input is made complex and
    transformed as complex data (fft2, fftn and their inverses; the 1-D ones run real input as
    a real transform)."""
    def formula(args, kwargs, out):
        x = args[0]
        s = _arg(args, kwargs, 1, "n" if default_dim == -1 else "s")
        dim = _arg(args, kwargs, 2, "dim", default_dim)
        s = [s] if isinstance(s, int) else s
        if dim is None:
            dim = range(x.dim() - len(s), x.dim()) if s is not None else range(x.dim())
        dims = [int(d) % x.dim() for d in ([dim] if isinstance(dim, int) else dim)]
        real_out = not out.is_complex()
        if real_out:  # c2r: the output holds the full real signal
            signal = list(out.shape)
        else:  # the input as the transform sees it: trimmed or zero-padded to s
            signal = list(x.shape)
            for d, n in zip(dims, s or ()):
                if n is not None and int(n) != -1:
                    signal[d] = int(n)
        return 0, _fft_flops(signal, dims, real=real_out or not (x.is_complex() or promotes))
    return formula


# --- torchvision::roi_align: bilinear samples averaged per bin ----------------------------------
def roi_align(args, kwargs, out):
    """(input, rois (K, 5): batch index, x1, y1, x2, y2, spatial_scale, pooled_height,
    pooled_width, sampling_ratio, aligned)."""
    x, rois, scale = args[0], args[1], float(args[2])
    ph, pw, ratio, aligned = int(args[3]), int(args[4]), int(args[5]), bool(args[6])
    if ratio > 0:
        points = rois.shape[0] * ratio * ratio
    else:  # adaptive: ceil(roi size / bins) sample points along each side, per ROI
        off = 0.5 if aligned else 0.0  # aligned boxes are shifted by half a pixel
        h = (rois[:, 4] * scale - off) - (rois[:, 2] * scale - off)
        w = (rois[:, 3] * scale - off) - (rois[:, 1] * scale - off)
        if not aligned:  # unaligned boxes are at least one pixel on a side
            h, w = h.clamp(min=1.0), w.clamp(min=1.0)
        grid = (h / ph).ceil().clamp(min=0) * (w / pw).ceil().clamp(min=0)
        points = int(grid.sum().item())
    macs = 4 * points * x.shape[1] * ph * pw
    return macs, 2 * macs + out.numel()  # + the division of each bin's sum by its count
