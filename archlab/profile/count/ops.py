"""The archlab counting convention: one table of per-operator formulas, seen at the dispatch level.

Every ATen op that runs lands in exactly one bucket:
- counted: a formula below gives (macs, flops);
- free: no arithmetic (views, reshapes, copies, concatenation, allocation, nearest upsampling);
- uncounted: no formula; reported in the coverage ledger with its calls and tensor traffic.

Rules of the convention (what a researcher can check by hand):
- MACs count multiply-adds (1 multiply-add = 1 MAC) of weighted sums: convolution, matrix products,
  einsum, batch norm at inference (scale and shift fold into one multiply-add per element),
  averaging (one multiply-add per input element: the mean is a sum weighted by 1/n) and linear
  interpolation (bilinear: 4 per output element). Biases initialise nothing here: a bias add is one
  FLOP per output element and no MAC.
- FLOPs = 2 x MACs, plus one FLOP per output element of every elementwise op (add, mul, relu,
  sigmoid, ...; a transcendental counts as one), one per input element of sum/max reductions and
  max pooling windows, and 3 per element of softmax (exp, accumulate, divide).
- Fused kernels count as the ops they fuse (multi-head attention: its projections, QK^T and AV;
  recurrent layers: their gate matrix products per time step, layer and direction). FFTs do no
  multiply-adds of a matrix product: MACs 0, FLOPs by the 5 N log2 N rule.
Ops are seen as the user called them (conv2d, linear, matmul, einsum stay whole under
torch.inference_mode), so each is counted once, never also as its decomposition.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from ...common import UsageError
from . import formulas as F
from . import ops_backward

Formula = Callable[[tuple, dict, object], "tuple[int, int]"]

COUNTED, FREE, UNCOUNTED = 0, 1, 2


class Entry(NamedTuple):
    """What the recorder needs for one op overload, resolved once and cached."""

    kind: int  # COUNTED, FREE or UNCOUNTED
    key: str  # the ledger name, e.g. "aten.conv2d"
    category: str  # conv, matmul, norm, pool, upsample, softmax, elementwise, reduction, free, ...
    formula: Formula | None
    new_outputs: bool  # False when the op returns a view or mutates in place (no new storage)
    maybe_copy: bool  # reshape-like: a view when it can be, a copy otherwise


_ELEMENTWISE = """add sub rsub mul div neg abs relu relu6 sigmoid tanh exp exp2 log log2 log1p sqrt
rsqrt pow reciprocal square erf clamp clamp_min clamp_max hardtanh leaky_relu elu
selu celu gelu silu mish hardswish hardsigmoid softplus threshold maximum minimum
where eq ne lt le gt ge logical_and logical_or logical_not sign floor ceil round
trunc frac fmod remainder sin cos _prelu_kernel prelu masked_fill bitwise_and
bitwise_or bitwise_not""".split()
_ELEMENTWISE2 = "addcmul addcdiv lerp".split()  # two operations per element
_FREE = set("""view _unsafe_view reshape _reshape_alias as_strided t transpose permute expand
expand_as squeeze unsqueeze select slice split split_with_sizes chunk unbind
narrow flatten unflatten view_as movedim swapaxes diagonal alias detach lift_fresh
lift_fresh_copy cat stack hstack vstack concat concatenate clone contiguous
_to_copy to copy_ copy empty empty_like empty_strided zeros zeros_like ones
ones_like full full_like new_empty new_zeros new_ones new_full new_empty_strided
arange scalar_tensor fill fill_ zero_ constant_pad_nd pad reflection_pad1d
reflection_pad2d reflection_pad3d replication_pad1d replication_pad2d
replication_pad3d upsample_nearest1d upsample_nearest2d upsample_nearest3d
_upsample_nearest_exact1d _upsample_nearest_exact2d _upsample_nearest_exact3d
channel_shuffle native_channel_shuffle pixel_shuffle pixel_unshuffle index_select
gather index repeat tile roll flip dropout native_dropout feature_dropout
alpha_dropout _local_scalar_dense item is_nonzero type_as unfold""".split())
# more ops without arithmetic: in-place dropout (a no-op in eval, like dropout), detaching,
# index grids, reshapes, splits, complex views, lazy conjugate/negative bits made concrete, and
# packing padded sequences for recurrent layers (a reorder of rows), splits by index, repeated
# rows, and an evenly spaced grid (its values are written, not computed from data)
_FREE |= set("""select_backward slice_backward diagonal_backward as_strided_backward
narrow_copy embedding""".split())  # an embedding is a lookup: rows gathered, nothing computed
_FREE |= set("""dropout_ feature_dropout_ alpha_dropout_ feature_alpha_dropout
feature_alpha_dropout_ detach_ meshgrid reshape_as unsafe_split unsafe_split_with_sizes
unsafe_chunk real imag view_as_real view_as_complex conj _conj resolve_conj resolve_neg
_has_compatible_shallow_copy_type transpose_ t_ squeeze_ unsqueeze_ _pack_padded_sequence
_pad_packed_sequence tensor_split repeat_interleave linspace""".split())
# reshape-like ops: annotated as views, yet they copy when the strides do not allow a view
_MAYBE_COPY = {"reshape", "flatten", "contiguous", "to", "type_as", "expand_as", "view_as",
               "unflatten", "reshape_as"}

_BUILTIN: dict[str, tuple[str, Formula]] = {}  # aten op name or "ns::name" -> (category, formula)
_RULES: dict[str, str] = {}  # aten op name -> the rule in words (describe() lists them)


def _add(names: str, category: str, formula: Formula, rule: str) -> None:
    for n in names.split():
        _BUILTIN[n] = (category, formula)
        _RULES[n] = rule


_add("conv1d conv2d conv3d convolution _convolution conv_tbc mkldnn_convolution "
     "cudnn_convolution _slow_conv2d_forward thnn_conv2d", "conv", F.conv,
     "MACs = out.numel * Cin/g * prod(k); bias: +1 FLOP per output")
_add("conv_transpose1d conv_transpose2d conv_transpose3d cudnn_convolution_transpose", "conv",
     F.conv_transpose, "MACs = in.numel * Cout/g * prod(k); bias: +1 FLOP per output")
_add("mm bmm matmul dot vdot mv", "matmul", F.matmul, "MACs = out.numel * contracted length")
_add("addmm baddbmm addmv addbmm", "matmul", F.addmm,
     "MACs = out.numel * contracted length; +1 FLOP per output for the add")
_add("linear", "matmul", F.linear, "MACs = out.numel * in_features; bias: +1 FLOP per output")
_add("einsum", "matmul", F.einsum,
     "pairwise left to right: MACs = product of all label sizes of each pair")
_add("scaled_dot_product_attention _scaled_dot_product_flash_attention_for_cpu "
     "_scaled_dot_product_efficient_attention _scaled_dot_product_flash_attention "
     "_scaled_dot_product_cudnn_attention _scaled_dot_product_fused_attention_overrideable", "matmul",
     F.sdpa,
     "MACs = B*heads*L*S*(E+Ev); softmax 3 FLOPs per score")
_BN_RULE = ("with running statistics (inference) 1 MAC per element: scale and shift fold into one "
            "multiply-add; with batch statistics (training) 2 MACs (variance, normalise+affine) + 2 "
            "FLOPs (mean, centre) per element. Which, per op schema: batch statistics for "
            "_batch_norm_with_update and the no_stats overload, running statistics for "
            "_native_batch_norm_legit_no_training, the `training` argument elsewhere, and batch "
            "statistics wherever no running statistics are given")
_add("batch_norm native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_functional "
     "_batch_norm_impl_index cudnn_batch_norm miopen_batch_norm", "norm", F.batch_norm, _BN_RULE)
_add("_batch_norm_with_update", "norm", F.batch_norm_with_update, _BN_RULE)
_add("_batch_norm_no_update", "norm", F.batch_norm_no_update, _BN_RULE)
_add("_native_batch_norm_legit_no_training", "norm", F.batch_norm_no_training, _BN_RULE)
_add("layer_norm native_layer_norm group_norm native_group_norm instance_norm rms_norm", "norm",
     F.norm_stats, "2 MACs per element (variance, normalise+affine) + 2 FLOPs (mean, centre)")
_add("adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d _adaptive_avg_pool2d "
     "_adaptive_avg_pool3d", "pool", F.adaptive_avg, "1 MAC per input cell of every window")
_add("adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d", "pool", F.adaptive_max,
     "1 FLOP per input cell of every window")
_add("avg_pool1d avg_pool2d avg_pool3d", "pool", F.avg_pool, "MACs = out.numel * prod(kernel)")
_add("max_pool1d max_pool2d max_pool3d max_pool2d_with_indices max_pool3d_with_indices", "pool",
     F.max_pool, "FLOPs = out.numel * prod(kernel) comparisons")
_add("mean", "pool", F.mean, "1 MAC per input element")
_add("sum amax amin max min var std var_mean std_mean prod cumsum logsumexp", "reduction",
     F.reduce, "1 FLOP per input element")
_add("linalg_vector_norm norm", "reduction", F.norm_vector, "1 MAC per input element")
_add("upsample_linear1d", "upsample", F.per_output(2), "2 MACs per output")
_add("upsample_bilinear2d _upsample_bilinear2d_aa grid_sampler grid_sampler_2d", "upsample",
     F.per_output(4), "4 MACs per output")
_add("upsample_trilinear3d grid_sampler_3d", "upsample", F.per_output(8), "8 MACs per output")
_add("upsample_bicubic2d _upsample_bicubic2d_aa", "upsample", F.per_output(16),
     "16 MACs per output")
_add("softmax _softmax log_softmax _log_softmax _safe_softmax", "softmax", F.softmax,
     "3 FLOPs per element (exp, accumulate, divide)")
_add("_native_multi_head_attention", "matmul", F.native_mha,
     "as its parts (batch first, packed projections): MACs = B*(L+2S)*E*E (q, k, v) + B*L*E*E "
     "(out) + B*heads*L*S*2*head_dim (QK^T, AV) + B*heads*L*S when need_weights averages the "
     "heads' weights (a mean); FLOPs = 2 x MACs + 1 per projection bias element + 3 per score "
     "(softmax); the 1/sqrt(head_dim) scaling and adding a mask are not counted")
_add("_transformer_encoder_layer_fwd", "matmul", F.transformer_encoder_layer,
     "as its parts: attention as _native_multi_head_attention without weights, two layer norms "
     "(as layer_norm), linear1 and linear2 (MACs = 2*B*L*E*dim_feedforward, +1 FLOP per bias "
     "element), the activation (1 FLOP per inner element) and two residual adds (1 FLOP each)")
_add("lstm", "matmul", F.rnn(4, F.LSTM_PER_UNIT),
     "per token (time step x sample), layer and direction: MACs = 4*hidden*(input + hidden) "
     "(+ proj*hidden with proj_size; a layer's input is hidden x directions after the first); "
     "FLOPs = 2 x MACs + 1 per bias element + 13 per hidden unit (adding the input and hidden "
     "products, 3 sigmoids, tanh, c = f*c + i*g, h = o*tanh(c))")
_add("gru", "matmul", F.rnn(3, F.GRU_PER_UNIT),
     "per token (time step x sample), layer and direction: MACs = 3*hidden*(input + hidden); "
     "FLOPs = 2 x MACs + 1 per bias element + 10 per hidden unit (adding the r and z products, "
     "2 sigmoids, n = tanh(i_n + r*h_n), h = n + z*(h - n))")
_add("rnn_tanh rnn_relu", "matmul", F.rnn(1, F.RNN_PER_UNIT),
     "per token (time step x sample), layer and direction: MACs = hidden*(input + hidden); "
     "FLOPs = 2 x MACs + 1 per bias element + 2 per hidden unit (the add, tanh or relu)")
_add("lstm_cell", "matmul", F.rnn_cell(4, F.LSTM_PER_UNIT),
     "per sample: one lstm step: MACs = 4*hidden*(input + hidden); FLOPs as lstm")
_add("gru_cell", "matmul", F.rnn_cell(3, F.GRU_PER_UNIT),
     "per sample: one gru step: MACs = 3*hidden*(input + hidden); FLOPs as gru")
_add("rnn_tanh_cell rnn_relu_cell", "matmul", F.rnn_cell(1, F.RNN_PER_UNIT),
     "per sample: one rnn step: MACs = hidden*(input + hidden); FLOPs as rnn_tanh")
_add("mkldnn_rnn_layer", "matmul", F.mkldnn_rnn_layer,
     "one LSTM layer and direction (oneDNN, outside inference mode): as lstm")
_FFT_RULE = ("MACs 0 (no matrix product); FLOPs = 5 N log2(N) per transform of N complex points "
             "(N = product of the transformed sizes), half that (2.5 N log2 N) when the input or "
             "the output is real: the convention of FFTW's benchFFT; rounded per call; the "
             "normalisation scaling is not counted")
# fft2, fftn and their inverses turn a real input complex; the 1-D fft and ifft run it as real
_PROMOTES = "; ATen makes a real input complex first here, so it counts in full"
_add("_fft_r2c _fft_c2r _fft_c2c", "fft", F.fft, _FFT_RULE)
_add("fft_fft fft_ifft fft_rfft fft_irfft fft_hfft fft_ihfft", "fft", F.fft_named(-1), _FFT_RULE)
_add("fft_rfft2 fft_irfft2 fft_hfft2 fft_ihfft2", "fft", F.fft_named([-2, -1]), _FFT_RULE)
_add("fft_rfftn fft_irfftn fft_hfftn fft_ihfftn", "fft", F.fft_named(None), _FFT_RULE)
_add("fft_fft2 fft_ifft2", "fft", F.fft_named([-2, -1], promotes=True), _FFT_RULE + _PROMOTES)
_add("fft_fftn fft_ifftn", "fft", F.fft_named(None, promotes=True), _FFT_RULE + _PROMOTES)
# ops of other namespaces, keyed by their qualified name and resolved when first seen, so that
# the library that defines them need not be installed
_add("torchvision::roi_align", "upsample", F.roi_align,
     "4 MACs per sample point and channel (bilinear: 4 weighted neighbours added into the bin); "
     "sample points per bin: sampling_ratio^2, or when sampling_ratio <= 0 "
     "ceil(roi_h/pooled_h)*ceil(roi_w/pooled_w) from each box (x spatial_scale; at least 1 pixel "
     "a side unless aligned); FLOPs = 2 x MACs + 1 per output (the bin average)")
# the backward pass and the backends' fused attention and recurrent kernels (ops_backward.py)
ops_backward.register(_add)
for _n in _ELEMENTWISE:
    _add(f"{_n} {_n}_", "elementwise", F.elementwise(1), "1 FLOP per output element")
for _n in _ELEMENTWISE2:
    _add(f"{_n} {_n}_", "elementwise", F.elementwise(2), "2 FLOPs per output element")

# user registrations: keyed by an OpOverload or an OpOverloadPacket (overload wins)
_USER: dict[object, tuple[str, Formula | None]] = {}
_CACHE: dict[object, Entry] = {}


def _resolve_op(op):
    if isinstance(op, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return op
    if isinstance(op, str):
        ns, sep, name = op.replace("::", ".").partition(".")
        if sep:
            name, _, overload = name.partition(".")
            try:
                packet = getattr(getattr(torch.ops, ns), name)
                return getattr(packet, overload) if overload else packet
            except (AttributeError, RuntimeError):
                pass
    raise UsageError(f"cannot resolve op {op!r}: pass torch.ops.ns.name or a string 'ns::name'")


def register_formula(op, formula: Callable | None = None, *, category: str = "custom",
                     free: bool = False, replace: bool = False):
    """Teach the archlab convention a new op (or override a built-in one with replace=True).

    `op`: torch.ops.ns.name (all overloads), torch.ops.ns.name.overload, or "ns::name".
    `formula(args, kwargs, out)` returns MACs (FLOPs are then 2 x MACs) or a (macs, flops) tuple.
    `free=True` declares an op that does no arithmetic. A decorator when `formula` is None.
    """
    target = _resolve_op(op)
    if formula is None and not free:
        return lambda f: register_formula(op, f, category=category, replace=replace)
    packet = target.overloadpacket if isinstance(target, torch._ops.OpOverload) else target
    if not replace and (target in _USER or _builtin_name(packet) is not None):
        raise UsageError(f"a formula for {target} exists; pass replace=True to override it")
    if free:
        _USER[target] = ("free", None)
    else:
        def normalised(args, kwargs, out, _f=formula):
            r = _f(args, kwargs, out)
            return (int(r[0]), int(r[1])) if isinstance(r, tuple) else (int(r), 2 * int(r))
        _USER[target] = (category, normalised)
    _CACHE.clear()
    return formula


def unregister_formula(op) -> None:
    """Remove a user registration (built-ins stay)."""
    _USER.pop(_resolve_op(op), None)
    _CACHE.clear()


def _builtin_name(packet) -> str | None:
    """The op's key in the built-in table, if it has one: its name for an ATen op, its qualified
    name ('torchvision::roi_align') for another namespace's."""
    qualified = packet._qualified_op_name
    if qualified in _BUILTIN:  # another namespace's op, e.g. torchvision::roi_align
        return qualified
    ns, _, name = qualified.partition("::")
    return name if ns == "aten" and (name in _BUILTIN or name in _FREE) else None


def entry(func) -> Entry:
    """The cached ledger entry of an OpOverload (resolved on first sight)."""
    e = _CACHE.get(func)
    if e is not None:
        return e
    packet = func.overloadpacket
    name = _builtin_name(packet)
    key = str(packet)
    schema = func._schema
    aliasing = any(r.alias_info is not None for r in schema.returns)
    new_outputs = not aliasing
    maybe_copy = name in _MAYBE_COPY
    user = _USER.get(func) or _USER.get(packet)
    if user is not None:
        cat, f = user
        kind = FREE if f is None else COUNTED
    elif name in _BUILTIN:
        (cat, f), kind = _BUILTIN[name], COUNTED
    elif name in _FREE or torch.Tag.view_copy in getattr(func, "tags", ()):
        cat, f, kind = "free", None, FREE
    else:
        cat, f, kind = "uncounted", None, UNCOUNTED
    e = Entry(kind, key, cat, f, new_outputs or maybe_copy, maybe_copy)
    _CACHE[func] = e
    return e


def describe() -> "list[tuple[str, str, str]]":
    """(op, category, rule) for every built-in op: the documentation of the convention as data."""
    rows = [(n.replace("::", ".") if "::" in n else f"aten.{n}", cat, _RULES[n])
            for n, (cat, _) in sorted(_BUILTIN.items())]
    rows += [(f"aten.{n}", "free", "no arithmetic (views, copies, allocation, nearest upsampling)")
             for n in sorted(_FREE)]
    return rows
