"""BatchNorm folded into the convolution before it, on a copy of any nn.Module.

In eval mode a BatchNorm2d is an affine map per channel, y * s + t with s = gamma / sqrt(var + eps)
and t = beta - mean * s, so when it reads a convolution's output and nothing else reads that output,
the conv's kernels can absorb s and a bias can absorb t: one operator fewer and one pass over the
feature map fewer, the first thing any deployment does.

Which BN "follows a conv directly" is read from the code, not guessed from names: every module
that owns a BN is traced one level deep with torch.fx (its submodules kept as calls), which gives
the BN's input and every other reader of it. The BN folds when its input is the output of a
submodule that no one else reads, and that submodule is, or ends in (traced the same way):
- an nn.Conv2d (torch.nn.utils.fusion.fuse_conv_bn_weights gives the new weight and bias);
- a module with a `fold_bn(bn)` method, which folds it itself (return False to refuse);
- a kernel-aggregation conv: a leaf whose `weight` is a bank of K kernels (K, Cout, Cin/g, kh, kw)
  mixed linearly per sample (Dite-HRNet's DKA). Scaling every kernel scales any mix of them alike,
  so each kernel is folded on its own; the shift becomes a bias added after the conv (the copy's
  class gains one, the user's class is left alone).
Everything else stays a BN, with the reason in the record. Folding is exact up to rounding; the
runtimes check the folded copy's outputs against the model's own anyway.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

MAX_DEPTH = 8  # how far a producer is followed into its own submodules


@dataclass
class FoldRecord:
    """What folding did: how many BNs there were, which folded and into what, which did not, why."""
    total: int = 0
    folded: dict[str, str] = field(default_factory=dict)  # BN name -> the module it folded into
    not_folded: dict[str, str] = field(default_factory=dict)  # BN name -> reason, a few words

    def summary(self) -> str:
        """One line: counts and the reasons that kept BNs, most common first."""
        text = f"{len(self.folded)} of {self.total} BNs folded"
        if not self.not_folded:
            return text
        reasons: dict[str, int] = {}
        for why in self.not_folded.values():
            reasons[why] = reasons.get(why, 0) + 1
        kept = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items(), key=lambda r: -r[1]))
        return f"{text}; {len(self.not_folded)} kept: {kept}"

    def to_dict(self) -> dict:
        return {"total": self.total, "folded": dict(self.folded),
                "not_folded": dict(self.not_folded)}


class _CallsAsLeaves(fx.Tracer):
    """Traces only the root's own forward: every submodule call stays one call_module node."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


def _trace(module: nn.Module) -> fx.Graph:
    return _CallsAsLeaves().trace(module)


def _is_kernel_bank(module: nn.Module, channels: int) -> bool:
    w = getattr(module, "weight", None)
    return (isinstance(w, nn.Parameter) and w.dim() == 5 and w.shape[1] == channels
            and getattr(module, "bias", None) is None and not any(True for _ in module.children()))


def _producer(module: nn.Module, channels: int, depth: int = 0):
    """(foldable module, None) for a module whose output a BN can absorb, else (None, reason)."""
    if (hasattr(module, "fold_bn") or isinstance(module, nn.Conv2d)
            or _is_kernel_bank(module, channels)):
        return module, None
    if isinstance(module, nn.modules.conv._ConvNd):
        return None, f"follows a {type(module).__name__}, which this does not fold"
    if depth >= MAX_DEPTH or not any(True for _ in module.children()):
        return None, f"follows a {type(module).__name__}, not a conv"
    try:
        graph = _trace(module)
    except Exception:  # any Python the tracer cannot follow: the producer stays unknown
        return None, f"follows a {type(module).__name__} whose forward could not be traced"
    out = next(n for n in graph.nodes if n.op == "output")
    last = out.args[0]
    if not (isinstance(last, fx.Node) and last.op == "call_module" and len(last.users) == 1):
        return None, f"follows a {type(module).__name__} that does not end in a module"
    return _producer(module.get_submodule(last.target), channels, depth + 1)


def _fold_into(target: nn.Module, bn: nn.BatchNorm2d) -> bool:
    """Fold `bn` into `target` in place; False when `target` refuses (its own fold_bn says so)."""
    if hasattr(target, "fold_bn"):
        return target.fold_bn(bn) is not False
    stats = (bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    if isinstance(target, nn.Conv2d):
        target.weight, target.bias = fuse_conv_bn_weights(target.weight, target.bias, *stats)
        return True
    kernels, bias = [], None
    for w in target.weight.detach():  # one (Cout, Cin/g, kh, kw) kernel at a time
        fused_w, bias = fuse_conv_bn_weights(w, None, *stats)
        kernels.append(fused_w.detach())
    target.weight = nn.Parameter(torch.stack(kernels), target.weight.requires_grad)
    _give_output_bias(target, bias.detach())
    return True


_WITH_BIAS: dict[type, type] = {}


def _give_output_bias(module: nn.Module, bias: torch.Tensor) -> None:
    """Turn `module` (this instance only) into a subclass that adds a per-channel bias to its
    output; the subclass is made once per class and keeps the module's name and state keys."""
    base = type(module)
    cls = _WITH_BIAS.get(base)
    if cls is None:
        def forward(self, *args, **kwargs):
            y = super(cls, self).forward(*args, **kwargs)
            return y + self.folded_bias.view(1, -1, *([1] * (y.dim() - 2)))

        cls = type(f"{base.__name__}FoldedBN", (base,),
                   {"forward": forward, "__module__": __name__,
                    "__doc__": f"{base.__name__} with a BatchNorm folded into it"})
        _WITH_BIAS[base] = cls
    module.__class__ = cls
    module.folded_bias = nn.Parameter(bias)


def _call_sites(graph: fx.Graph) -> dict[str, list[fx.Node]]:
    sites: dict[str, list[fx.Node]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            sites.setdefault(node.target, []).append(node)
    return sites


def _describe(node) -> str:
    """What a BN reads, in words, when it is not a module's output."""
    if not isinstance(node, fx.Node):
        return "a constant"
    if node.op == "placeholder":
        return "its parent's input"
    if node.op == "call_method":
        return f"a .{node.target}() call"
    if node.op == "call_function":
        return f"a {getattr(node.target, '__name__', str(node.target))} call"
    return "a stored tensor"


class _Model:
    """What deciding a fold needs to know about the whole model, gathered once."""

    def __init__(self, model: nn.Module):
        self.root = model
        self.owners: dict[int, int] = {}  # how many parents reach a module: > 1 is shared
        for _, m in model.named_modules(remove_duplicate=False):
            self.owners[id(m)] = self.owners.get(id(m), 0) + 1
        self.names = {id(m): n for n, m in model.named_modules()}
        self.sites: dict[str, object] = {}  # parent -> its call sites, or why it has none
        self.taken: set[str] = set()  # modules that already took a BN

    def call_sites(self, parent: str):
        if parent not in self.sites:
            try:
                self.sites[parent] = _call_sites(_trace(self.root.get_submodule(parent)))
            except Exception as e:  # Python fx cannot follow (a loop over a list input, say)
                self.sites[parent] = ("its parent's forward could not be traced "
                                      f"({type(e).__name__})")
        return self.sites[parent]


def _decide(m: _Model, name: str, bn: nn.BatchNorm2d) -> tuple[str | None, str | None]:
    """(the module `bn` folds into, None) or (None, why it cannot)."""
    parent, _, child = name.rpartition(".")
    if m.owners[id(bn)] > 1:
        return None, "is shared by several modules"
    if not bn.track_running_stats or bn.running_mean is None:
        return None, "has no running statistics"
    sites = m.call_sites(parent)
    if isinstance(sites, str):
        return None, sites
    calls = sites.get(child, [])
    if len(calls) != 1:
        return None, "is called more than once" if calls else "is never called by its parent"
    source = calls[0].args[0] if calls[0].args else None
    if not isinstance(source, fx.Node) or source.op != "call_module":
        return None, f"follows {_describe(source)}, not a conv"
    if len(source.users) != 1 or len(sites.get(source.target, [])) != 1:
        return None, "follows a conv whose output is also read elsewhere"
    producer = m.root.get_submodule(parent).get_submodule(source.target)
    if m.owners[id(producer)] > 1:
        return None, "follows a conv shared by several modules"
    target, why = _producer(producer, bn.num_features)
    if target is None:
        return None, why
    if m.owners[id(target)] > 1 or m.names[id(target)] in m.taken:
        return None, "follows a conv that is shared or already holds a folded BN"
    m.taken.add(m.names[id(target)])
    return m.names[id(target)], None


def fold_batchnorms(model: nn.Module) -> tuple[nn.Module, FoldRecord]:
    """A copy of `model` in eval mode with every BN that directly follows a conv folded into it (the
    BN becomes nn.Identity, or leaves its nn.Sequential); the model itself is not touched. Returns
    (copy, FoldRecord)."""
    folded = copy.deepcopy(model).eval()
    bns = {n: m for n, m in folded.named_modules() if isinstance(m, nn.BatchNorm2d)}
    record = FoldRecord(total=len(bns))
    facts = _Model(folded)
    plan = {}
    for name, bn in bns.items():  # decide everything first: folding changes what a trace sees
        target, why = _decide(facts, name, bn)
        if target is None:
            record.not_folded[name] = why
        else:
            plan[name] = target
    with torch.no_grad():
        for bn_name, target_name in plan.items():
            parent_name, _, child = bn_name.rpartition(".")
            parent = folded.get_submodule(parent_name)
            if not _fold_into(folded.get_submodule(target_name), getattr(parent, child)):
                record.not_folded[bn_name] = f"{target_name} refused (its fold_bn)"
                continue
            if isinstance(parent, nn.Sequential):
                delattr(parent, child)  # one call fewer than an Identity
            else:
                setattr(parent, child, nn.Identity())
            record.folded[bn_name] = target_name
    record.not_folded = dict(sorted(record.not_folded.items()))
    return folded, record
