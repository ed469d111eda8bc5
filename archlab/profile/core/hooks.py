"""Module bookkeeping shared by every pass: the module table and the one place hooks are attached.

Hooks go on and come off in `module_hooks` only (removed in `finally`, so a forward that raises
leaves none behind), and `evaluating` restores each module's own training flag afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from torch import nn


class ModuleTable:
    """The modules of a model in `named_modules()` order (parents before children, each module
    once even when shared), with names, parents, depths and leaf flags as parallel lists."""

    def __init__(self, model: nn.Module):
        self.names: list[str] = []
        self.modules: list[nn.Module] = []
        for name, mod in model.named_modules():
            self.names.append(name)
            self.modules.append(mod)
        index = {n: i for i, n in enumerate(self.names)}
        self.parents: list[int] = []
        for n in self.names:
            p = n.rpartition(".")[0] if n else None
            while p is not None and p not in index:  # a child reached through a skipped alias
                p = p.rpartition(".")[0] if p else None
            self.parents.append(-1 if p is None else index[p])
        self.depths = [0 if not n else n.count(".") + 1 for n in self.names]
        self.types = [type(m).__name__ for m in self.modules]
        self.leaf = [not any(c is not None for c in m._modules.values()) for m in self.modules]
        refs: dict[int, int] = {}
        for m in self.modules:
            for c in m._modules.values():
                if c is not None:
                    refs[id(c)] = refs.get(id(c), 0) + 1
        self.shared = any(n > 1 for n in refs.values())  # a module reached through two parents

    def __len__(self) -> int:
        return len(self.modules)

    def inclusive(self, exclusive: list) -> list:
        """Sum per-module values up the ownership tree (a module's own ops plus its submodules')."""
        total = list(exclusive[: len(self)])
        for i in range(len(self) - 1, 0, -1):  # children come after parents: sweep backwards
            p = self.parents[i]
            if p >= 0:
                total[p] += total[i]
        return total

    def params(self) -> list[int]:
        """Parameters per module, inclusive; a parameter shared inside a subtree counts once."""
        return self.param_stats()["params"]

    def param_stats(self) -> dict[str, list]:
        """Per module, inclusive (a parameter shared inside a subtree counts once): params,
        trainable (requires_grad), and bytes by dtype ({"float32": n, ...})."""
        def stats(ps):
            total = trainable = 0
            by_dtype: dict[str, int] = {}
            for p in ps:
                total += p.numel()
                trainable += p.numel() if p.requires_grad else 0
                dt = str(p.dtype).replace("torch.", "")
                by_dtype[dt] = by_dtype.get(dt, 0) + p.numel() * p.element_size()
            return total, trainable, by_dtype

        owners: dict[int, int] = {}
        for m in self.modules:
            for p in m._parameters.values():
                if p is not None:
                    owners[id(p)] = owners.get(id(p), 0) + 1
        if not self.shared and all(c == 1 for c in owners.values()):  # a plain sweep up the tree
            own = [stats(p for p in m._parameters.values() if p is not None) for m in self.modules]
            by_dtype = [dict(b) for _, _, b in own]
            for i in range(len(self) - 1, 0, -1):  # children come after parents
                if self.parents[i] >= 0:
                    for dt, v in by_dtype[i].items():
                        dst = by_dtype[self.parents[i]]
                        dst[dt] = dst.get(dt, 0) + v
            return {"params": self.inclusive([t for t, _, _ in own]),
                    "trainable": self.inclusive([t for _, t, _ in own]), "bytes": by_dtype}
        every = [stats(m.parameters()) for m in self.modules]
        return {"params": [t for t, _, _ in every], "trainable": [t for _, t, _ in every],
                "bytes": [b for _, _, b in every]}


HookFactory = Callable[[int], Callable]


@contextmanager
def module_hooks(table: ModuleTable, pre: HookFactory | None = None,
                 post: HookFactory | None = None):
    """Attach pre(i) / post(i) forward hooks to every module of the table; always detached."""
    handles = []
    try:
        for i, mod in enumerate(table.modules):
            if pre is not None:
                handles.append(mod.register_forward_pre_hook(pre(i)))
            if post is not None:
                handles.append(mod.register_forward_hook(post(i)))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def evaluating(model: nn.Module):
    """eval() for the duration, then every module gets back its own flag (a model may mix them)."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for m, flag in flags:
            if m.training != flag:  # Module.__setattr__ is slow: touch only what changed
                m.training = flag


def hook_count(model: nn.Module) -> int:
    """Forward hooks on the model plus global ones: what a profile must leave as it found it."""
    from torch.nn.modules import module as _m

    own = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return own + len(_m._global_forward_hooks) + len(_m._global_forward_pre_hooks)
