"""The dispatch-level recorder: every ATen operator seen where it runs and attributed to the innermost
module running, as counts (count/counter.py) or as time (timing/operators.py).

Forward pre/post hooks keep a stack of the modules whose forward is running; a TorchDispatchMode sees
every operator and files it under the top of that stack. So a container that runs no operator of
its own costs nothing, functional calls land in the module that made them, and what no operator
accounts for (Python between operators, dispatch, hooks) is left outside every module.
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .hooks import ModuleTable, module_hooks


class ModuleStack:
    """stack[-1] is the table index of the innermost module running; the extra last slot (index
    len(table)) stands for "outside every module"."""

    def __init__(self, table: ModuleTable):
        self.table = table
        self.outside = len(table)
        self.stack = [self.outside]
        self.calls = [0] * (len(table) + 1)  # forward calls per module

    def pre_hook(self, i: int):
        stack, calls = self.stack, self.calls

        def pre(module, args):
            stack.append(i)
            calls[i] += 1
        return pre

    def post_hook(self, i: int):
        stack = self.stack

        def post(module, args, out):
            while len(stack) > 1 and stack.pop() != i:  # a child that raised and was caught
                pass
        return post


class _Warm(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


_warmed = []


def _warm_up() -> None:
    """torch imports and builds its dispatch-mode machinery on first use; when that happens inside
    the measured forward (GC paused), the import's caught exceptions keep frames, and the tensors
    in them, alive: the first profile of a process would report a higher peak. Do it up front."""
    if not _warmed:
        with _Warm():
            torch.ones(1) + 1
        _warmed.append(True)


class recording:
    """Context manager: the recorder's hooks on every module and its dispatch mode, both removed on
    exit. `recorder` is a ModuleStack that is also a TorchDispatchMode."""

    def __init__(self, recorder):
        _warm_up()
        self.recorder = recorder
        self._hooks = module_hooks(recorder.table, recorder.pre_hook, recorder.post_hook)

    def __enter__(self):
        self._hooks.__enter__()
        try:
            self.recorder.__enter__()
        except BaseException:
            self._hooks.__exit__(None, None, None)
            raise
        return self.recorder

    def __exit__(self, *exc):
        try:
            self.recorder.__exit__(*exc)
        finally:
            self._hooks.__exit__(*exc)
            close = getattr(self.recorder, "close", None)
            if close is not None:
                close()
        return False
