"""The thop convention without thop's own forward: thop's rules, run on the calls the counting pass
already sees.

thop.profile deep-copies nothing itself: it adds buffers and forward hooks to every module whose
exact type its table (thop.profile.register_hooks) knows, runs one forward and sums the buffers
down the module tree. Here the counting pass notes each such module's calls (the shapes and dtypes
of its inputs and output; no tensor is kept, so memory measured in the same pass is not changed),
and afterwards each call goes to thop's own rule on meta tensors of those shapes, with a stand-in
for the module that reads the module's attributes and keeps the `total_ops` buffer thop's rule adds
to. The tree is then summed the way thop sums it (external.thop_counts), so the numbers are thop's.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class _Meta(NamedTuple):
    shape: tuple
    dtype: torch.dtype


def _describe(x):
    """The value with every tensor replaced by its shape and dtype (no torch op runs)."""
    if isinstance(x, Tensor):
        return _Meta(tuple(x.shape), x.dtype)
    if isinstance(x, (tuple, list)):
        items = [_describe(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    return x


def _rebuild(x):
    if isinstance(x, _Meta):
        return torch.empty(x.shape, dtype=x.dtype, device="meta")
    if isinstance(x, (tuple, list)):
        items = [_rebuild(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    return x


class _Standin:
    """The module as thop's rule sees it: its attributes, and a total_ops buffer of thop's dtype."""

    def __init__(self, module: nn.Module):
        object.__setattr__(self, "_module", module)
        self.total_ops = torch.zeros(1, dtype=torch.float64)

    def __getattr__(self, name):
        return getattr(self._module, name)


class ThopCalls:
    """Attach to the counting pass: `rules[i]` is thop's rule for module i (None: it has none);
    `note(i, args, out)` from module i's forward hook."""

    def __init__(self, table):
        self.table = table
        self.rules = self.rules_of(table)
        self.calls: list = []  # (module index, described inputs, described output)

    @staticmethod
    def rules_of(table) -> list:
        """thop's rule for each module of the table (by exact type, as thop looks it up), or None."""
        import warnings

        with warnings.catch_warnings():  # thop's import warns about distutils
            warnings.simplefilter("ignore")
            from thop.profile import register_hooks
        return [register_hooks.get(type(m)) for m in table.modules]

    def note(self, i: int, args, out) -> None:
        self.calls.append((i, _describe(args), _describe(out)))

    def totals(self) -> dict:
        """{module: its total_ops as thop's hooks leave it} for every module thop has a rule for.
        A module reached through k parents gets k hooks from thop's model.apply: each call
        counted k times, as there."""
        hooks = {id(m): 0 for m, rule in zip(self.table.modules, self.rules) if rule is not None}
        hooks[id(self.table.modules[0])] = 1 if id(self.table.modules[0]) in hooks else 0
        for m in self.table.modules:
            for c in set(c for c in m._modules.values() if c is not None):
                if id(c) in hooks:
                    hooks[id(c)] += 1
        stand = {}
        for i, args, out in self.calls:
            m = self.table.modules[i]
            s = stand.get(i) or stand.setdefault(i, _Standin(m))
            x, y = _rebuild(args), _rebuild(out)
            for _ in range(hooks[id(m)]):
                self.rules[i](s, x, y)
        return {self.table.modules[i]: s.total_ops for i, s in stand.items()}
