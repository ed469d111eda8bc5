"""The paper-hook convention's module rules: what the Lite-HRNet / Dite-HRNet README counter (published
in units of 2^20) counts for each LEAF module, once, with the shapes of its LAST call, by module type
only:
conv (any module holding kernels and exposing in_channels/out_channels/kernel_size/groups, so a
dynamic conv's [K, Cout, Cin/g, k, k] bank counts at its static shape)
k_h*k_w*(Cin/g)*Cout*Hout*Wout*B (+Cout*Hout*Wout*B with bias); norm 2*numel(in) (numel when not
affine); ReLU family numel(in); nn.Upsample B*Hout*Wout (the tool dropped the channels);
Adaptive{Avg,Max}Pool2d B*C*(rows+1)*(cols+1) per output cell of its input window; Linear
rows*(in*out (+out with bias)); everything else, and every functional call, 0.
Also `module_category`: the op category a module-type convention files a module's count under.
"""
from __future__ import annotations

import math

import torch
from torch import nn

_RELUS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
_ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def is_conv_like(m: nn.Module) -> bool:
    """A module that holds conv kernels: nn.Conv*, or one exposing the conv attributes and owning
    a kernel bank of 4+ dims (a dynamic conv)."""
    if isinstance(m, nn.modules.conv._ConvNd):
        return True
    if not all(hasattr(m, a) for a in ("in_channels", "out_channels", "kernel_size", "groups")):
        return False
    return any(p is not None and p.dim() >= 4 for p in m._parameters.values())


def _prod(xs) -> int:
    return math.prod(int(x) for x in xs)


def _conv_rule(m, args, out) -> int:
    x = args[0]
    nd = x.dim() - 2
    k = m.kernel_size if isinstance(m.kernel_size, (tuple, list)) else (m.kernel_size,) * nd
    cout = m.out_channels
    if getattr(m, "transposed", False):  # the authors' tool counts a deconv at its input size
        spatial = x.shape[2:]
    elif isinstance(out, torch.Tensor) and out.dim() == x.dim() and out.shape[1] == cout:
        spatial = out.shape[2:]
    else:  # the module returns something else: its output size from the conv arithmetic
        spatial = [_out_len(n, *_attrs(m, i, nd)) for i, n in enumerate(x.shape[2:])]
    positions = x.shape[0] * _prod(spatial)
    macs = _prod(k) * (m.in_channels // m.groups) * cout * positions
    return macs + (cout * positions if getattr(m, "bias", None) is not None else 0)


def _attrs(m, i, nd):
    def get(name, default):
        v = getattr(m, name, default)
        return v[i] if isinstance(v, (tuple, list)) else v
    k = get("kernel_size", 1)
    return k, get("stride", 1), get("padding", k // 2), get("dilation", 1)


def _out_len(n, k, s, p, d) -> int:
    if isinstance(p, str):  # 'same' / 'valid'
        return n if p == "same" else (n - d * (k - 1) - 1) // s + 1
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _norm_rule(m, args, out) -> int:
    n = args[0].numel()
    return 2 * n if (getattr(m, "affine", False) or getattr(m, "elementwise_affine", False)) else n


def _relu_rule(m, args, out) -> int:
    return args[0].numel()


def _upsample_rule(m, args, out) -> int:
    return out.shape[0] * _prod(out.shape[2:])


def _adaptive_rule(m, args, out) -> int:
    x = args[0]
    o = out[0] if isinstance(out, (tuple, list)) else out
    total = x.shape[0] * x.shape[1]
    for n_in, n_out in zip(x.shape[2:], o.shape[2:]):
        # sum over output cells of (window length + 1), windows as adaptive pooling cuts them
        total *= sum(-(-((i + 1) * n_in) // n_out) - (i * n_in) // n_out + 1 for i in range(n_out))
    return total


def _linear_rule(m, args, out) -> int:
    rows = args[0].numel() // m.in_features
    return rows * (m.in_features * m.out_features + (m.out_features if m.bias is not None else 0))


def paper_hook_rule(m: nn.Module, leaf: bool):
    """The per-module formula of the paper-hook convention, or None when it counts the module as 0
    (a non-leaf module only counts when it holds conv kernels itself)."""
    if is_conv_like(m):
        return _conv_rule
    if not leaf:
        return None
    if isinstance(m, _NORMS):
        return _norm_rule
    if isinstance(m, _RELUS):
        return _relu_rule
    if isinstance(m, nn.Upsample):
        return _upsample_rule
    if isinstance(m, _ADAPTIVE):
        return _adaptive_rule
    if isinstance(m, nn.Linear):
        return _linear_rule
    return None


def module_category(m: nn.Module) -> str:
    """The op category a module-type convention (paper-hook, thop) files a module's count under."""
    if is_conv_like(m):
        return "conv"
    if isinstance(m, nn.Linear):
        return "matmul"
    if isinstance(m, _NORMS):
        return "norm"
    if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
        return "softmax"
    if isinstance(m, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
                      nn.modules.pooling._AvgPoolNd, nn.modules.pooling._MaxPoolNd)):
        return "pool"
    if isinstance(m, nn.Upsample):
        return "upsample"
    return "elementwise"
