"""Formulas of the backward pass: each maps one backward op call to (macs, flops), as formulas.py does
for the forward ops. The rules in words are beside their registration in ops.py.

A gradient costs what the forward product it differentiates costs, once per input that needs it:
a conv (or a matrix product, which autograd runs as more mm / bmm, counted by the forward table)
whose input needs a gradient costs 2x its forward MACs (input gradient + weight gradient), 1x for
the first layer, whose input (the image) needs none.
"""
from __future__ import annotations

import math


def _prod(xs) -> int:
    return math.prod(int(x) for x in xs)


def conv_backward(args, kwargs, out):
    """convolution_backward(grad_out, input, weight, bias_sizes, stride, padding, dilation,
    transposed, output_padding, groups, output_mask)."""
    grad_out, x, w = args[0], args[1], args[2]
    transposed, mask = bool(args[7]), args[10]
    forward = (x.numel() if transposed else grad_out.numel()) * w.shape[1] * _prod(w.shape[2:])
    macs = forward * (int(bool(mask[0])) + int(bool(mask[1])))
    return macs, 2 * macs + (grad_out.numel() if mask[2] else 0)


def batch_norm_backward(args, kwargs, out):
    """native_batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean,
    save_invstd, train, eps, output_mask), and batch_norm_backward, whose args[7] is `update`: with
    batch statistics, the two reductions (sum dy, sum dy * x_hat) and the input gradient; with
    running statistics, a scale. No running statistics (None) means batch statistics whatever
    the flag; cuDNN's and MIOpen's (input, grad_out, ...) backward only exists in training, and
    its args[7] is a non-zero epsilon."""
    n = args[1].numel()
    train = (bool(args[7]) if len(args) > 7 else True) or args[3] is None
    macs = 2 * n if train else n
    return macs, 2 * macs + (2 * n if train else 0)


def norm_stats_backward(args, kwargs, out):  # layer / group norm: statistics per sample
    n = args[1].numel()
    return 3 * n, 6 * n + 2 * n


def per_grad_output(macs_each: int, flops_each: int = 0):
    """A cost per element of the incoming gradient (args[0])."""
    def formula(args, kwargs, out):
        n = args[0].numel()
        return macs_each * n, 2 * macs_each * n + flops_each * n
    return formula


def per_grad_input(macs_each: int):
    """A cost per element of the gradient this op produces (its output)."""
    def formula(args, kwargs, out):
        o = out[0] if isinstance(out, (tuple, list)) else out
        return macs_each * o.numel(), 2 * macs_each * o.numel()
    return formula


def avg_pool_backward(args, kwargs, out):  # avg_pool2d_backward(grad_out, input, kernel, ...)
    grad_out, kernel = args[0], args[2]
    nd = grad_out.dim() - 2
    k = _prod(kernel if isinstance(kernel, (list, tuple)) and len(kernel) == nd else
              list(kernel) * nd if isinstance(kernel, (list, tuple)) else [kernel] * nd)
    macs = grad_out.numel() * k
    return macs, 2 * macs


def softmax_backward(args, kwargs, out):  # dy*y - y*sum(dy*y): one multiply-add, two flops
    n = args[0].numel()
    return n, 2 * n + 2 * n


def first_output_flops(flops_each: float):
    """FLOPs only, `flops_each` per element of the first output (a fused cell's gate math)."""
    def formula(args, kwargs, out):
        o = out[0] if isinstance(out, (tuple, list)) else out
        return 0, round(flops_each * o.numel())
    return formula
