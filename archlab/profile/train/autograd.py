"""Training cost per module: the backward pass counted and timed at the operator level and attributed
to the module whose forward produced it, the memory autograd saves for it, and the step time.

Attribution: while the forward runs, each module's forward hooks note the autograd sequence number
at its start and, at its end, tag every autograd node made since then (reachable from its outputs
and not yet tagged by a submodule) with the module's table index (node.metadata). Before the
backward runs, a pre-hook on every node of the graph tells the recorder which module the node
belongs to, so each backward operator lands in that module, exactly as the forward's do. A
recomputed forward (activation checkpointing) runs the modules' forward hooks again and lands in
them, counted with the backward pass it is part of.

Saved memory: torch.autograd.graph.saved_tensors_hooks sees every tensor autograd saves; each
storage is counted once, parameters and buffers excluded, under the module whose forward saved it.
The model is profiled as a deep copy: its parameters, gradients and BN statistics stay as found.
"""
from __future__ import annotations

import copy
from contextlib import ExitStack
import torch
from torch import Tensor, nn

from ...common import UsageError
from ..core.hooks import ModuleTable, module_hooks

KEY = "archlab_module"
_seq = torch._C._autograd._get_sequence_nr


def tensors(obj):
    """The tensors in a (nested) output: a tensor, list, tuple or dict."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from tensors(o)


def loss_of(out) -> Tensor:
    """The scalar a step differentiates: the sum of every floating output (what the model returns
    is all the profiler knows; a real loss adds a few elementwise ops)."""
    parts = [t.float().sum() for t in tensors(out) if t.is_floating_point() and t.requires_grad]
    if not parts:
        raise UsageError("the model's outputs need no gradient: nothing to train")
    return torch.stack(parts).sum() if len(parts) > 1 else parts[0]


def _walk(roots, start: int | None = None):
    """Autograd nodes reachable from `roots`; with `start`, only nodes made at or after that
    sequence number (earlier ones, and what lies behind them, belong to a caller)."""
    stack, seen = [r for r in roots if r is not None], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if start is not None and node._sequence_nr() < start:
            continue
        yield node
        stack.extend(n for n, _ in node.next_functions if n is not None)


class NodeTagger:
    """Forward hooks that tag the autograd nodes each module's forward made with its index."""

    def __init__(self):
        self.starts: list[int] = []

    def pre_hook(self, i: int):
        def pre(module, args):
            self.starts.append(_seq())
        return pre

    def post_hook(self, i: int):
        def post(module, args, out):
            start = self.starts.pop() if self.starts else 0
            for node in _walk([t.grad_fn for t in tensors(out)], start):
                node.metadata.setdefault(KEY, i)
        return post


def attribute_backward(loss: Tensor, stack: list, outside: int) -> list:
    """A pre-hook on every node of the graph that puts its module on top of the recorder's stack
    (the base, stack[0], is `outside`); returns the hook handles."""
    def enter(i):
        def hook(grad_outputs):
            del stack[1:]
            if i != outside:
                stack.append(i)
        return hook
    return [node.register_prehook(enter(node.metadata.get(KEY, outside)))
            for node in _walk([loss.grad_fn])]


class SavedBytes:
    """Bytes of the storages autograd saves, per module (the recorder's stack says which), each
    storage once; the model's own tensors (parameters and buffers, e.g. BN statistics) are not
    activations and are left out."""

    def __init__(self, stack: list, n: int, model: nn.Module):
        self.stack, self.bytes = stack, [0] * (n + 1)
        own = [*model.parameters(), *model.buffers()]
        self.seen = {t.untyped_storage().data_ptr() for t in own}

    def pack(self, t: Tensor):
        storage = t.untyped_storage()
        ptr, nbytes = storage.data_ptr(), storage.nbytes()
        if nbytes and ptr not in self.seen:
            self.seen.add(ptr)
            self.bytes[self.stack[-1]] += nbytes
        return t

    @staticmethod
    def unpack(t: Tensor) -> Tensor:
        return t


def training_copy(module: nn.Module, device: torch.device) -> nn.Module:
    """The model to train: a deep copy on `device`, in training mode (so the original keeps its
    weights, gradients and BN statistics)."""
    return copy.deepcopy(module).to(device).train()


class TrainingStep:
    """One training step on inputs `x` (inputs.Inputs): gradients cleared, forward, the loss of
    loss_of, backward, and with `sgd` an SGD step (momentum 0.9). Calling it runs the step as it
    is; `traced(table, clocks, recording)` runs the same step with the "forward", "backward" and
    (with sgd) "optimizer" recorders of `clocks` recording their parts."""

    def __init__(self, model: nn.Module, x, *, sgd: bool):
        self.model, self.x = model, x
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.params, lr=1e-3, momentum=0.9) if sgd else None

    def __call__(self) -> None:
        for p in self.params:
            p.grad = None
        loss_of(self.x.call(self.model)).backward()
        if self.optimizer is not None:
            self.optimizer.step()

    def traced(self, table: ModuleTable, clocks: dict, recording) -> None:
        traced_step(self.model, self.x, table, clocks["forward"], clocks["backward"], recording,
                    optimizer=self.optimizer, optimizer_mode=clocks.get("optimizer"))


def step_function(model: nn.Module, x, *, sgd: bool) -> TrainingStep:
    """The training step of `model` on `x` (see TrainingStep)."""
    return TrainingStep(model, x, sgd=sgd)


def traced_step(model: nn.Module, x, table: ModuleTable, forward_mode, backward_mode,
                recording, *, saved: SavedBytes | None = None, optimizer=None,
                optimizer_mode=None) -> None:
    """One step with `forward_mode` recording the forward (its module stack kept by its hooks, the
    autograd nodes tagged) and `backward_mode` recording the backward (its stack set by node
    pre-hooks). Both are recorders of recorder.py / counting.py. With `optimizer`, its step
    follows, recorded by `optimizer_mode` (its operators run outside every module)."""
    tagger = NodeTagger()
    for p in model.parameters():
        p.grad = None
    with ExitStack() as stack:
        stack.enter_context(module_hooks(table, tagger.pre_hook, tagger.post_hook))
        if saved is not None:
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack))
        with recording(forward_mode):
            loss = loss_of(x.call(model))
    handles = attribute_backward(loss, backward_mode.stack, backward_mode.outside)
    try:
        with recording(backward_mode):
            loss.backward()
    finally:
        for h in handles:
            h.remove()
    if optimizer is not None:
        if optimizer_mode is None:
            optimizer.step()
        else:
            with recording(optimizer_mode):
                optimizer.step()
