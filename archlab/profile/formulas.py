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


def norm_inference(args, kwargs, out):  # batch norm with running statistics
    n = args[0].numel()
    return n, 2 * n


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
