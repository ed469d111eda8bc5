"""Bytes moved and operators run, per module, seen at the dispatch level beside the counting pass.

The convention (README, "Roofline"): an operator moves the bytes of its tensor inputs and outputs,
each operator counted once where it runs:
- every tensor argument is read (lists of tensors too: cat, stack), parameters and buffers
  included (a conv moves input + weight + bias + output);
- an argument the operator writes in place (relu_, add_, copy_) is also written: read + written;
- an output that aliases an input (a view, the result of an in-place op) is nothing new and is
  not counted again; an operator that only makes views (view, transpose, expand, select) moves
  nothing;
- a tensor is its elements x element size (fp32: 4 bytes), but no more than its storage holds (an
  expanded tensor reads its storage once).
Every dispatched operator counts as one in `ops`, views included: each pays the dispatcher.

Traffic is a dispatch mode stacked inside a counting Recorder (count/counter.py), sharing the
recorder's module stack, so the roofline's rule lives here and the counter stays as it is.
"""
from __future__ import annotations

from contextlib import contextmanager

from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from ..core.recorder import recording

_RULES: dict = {}  # OpOverload -> (indices of written arguments, names of written kwargs, aliasing)


def _rule(func):
    """From the op's schema, once: which arguments it writes, and whether its results alias an
    input (views and in-place ops)."""
    got = _RULES.get(func)
    if got is None:
        schema = func._schema
        written = tuple(i for i, a in enumerate(schema.arguments)
                        if a.alias_info is not None and a.alias_info.is_write and not a.kwarg_only)
        written_kw = tuple(a.name for a in schema.arguments
                           if a.alias_info is not None and a.alias_info.is_write and a.kwarg_only)
        aliasing = any(r.alias_info is not None for r in schema.returns)
        got = _RULES[func] = (written, written_kw, aliasing)
    return got


def nbytes(t: Tensor) -> int:
    """Elements x element size, at most the bytes its storage holds (from the tensor's offset)."""
    n = t.nbytes
    try:
        held = t.untyped_storage().nbytes() - t.storage_offset() * t.element_size()
    except (RuntimeError, NotImplementedError):  # a tensor without storage (a subclass): its size
        return n
    return min(n, max(held, 0))


def _tensors(seq):
    for a in seq:
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (b for b in a if isinstance(b, Tensor))


def _same_storage(t: Tensor, inputs) -> bool:
    try:
        ptr = t.untyped_storage().data_ptr()
        return any(ptr == a.untyped_storage().data_ptr() for a in inputs)
    except (RuntimeError, NotImplementedError):
        return True  # cannot tell: trust the schema, which says it aliases


def op_bytes(func, args, kwargs, out) -> int:
    """Bytes one call of `func` moves, by the convention of the module doc."""
    written, written_kw, aliasing = _rule(func)
    kwargs = kwargs or {}
    # an out= buffer (a written keyword argument) is written, not read
    inputs = list(_tensors(args)) + list(_tensors(v for k, v in kwargs.items()
                                                  if k not in written_kw))
    outs = list(_tensors(out if isinstance(out, (tuple, list)) else (out,)))
    if aliasing and not written and not written_kw:
        # a view: nothing moves, unless a reshape-like op had to copy after all
        fresh = [t for t in outs if not _same_storage(t, inputs)]
        if not fresh:
            return 0
        return sum(nbytes(t) for t in inputs) + sum(nbytes(t) for t in fresh)
    total = sum(nbytes(t) for t in inputs)
    total += sum(nbytes(t) for t in _tensors(args[i] for i in written if i < len(args)))
    out_buffers = list(_tensors(kwargs.get(k) for k in written_kw))
    total += sum(nbytes(t) for t in out_buffers)
    if aliasing:  # in place or out=: the results are the written arguments, already counted
        outs = [t for t in outs if not _same_storage(t, inputs + out_buffers)]
    return total + sum(nbytes(t) for t in outs)


class Traffic(TorchDispatchMode):
    """Bytes moved and operators run per module (index = module table index; the last slot:
    outside every module), filed under the top of `stack` (a recorder's module stack)."""

    def __init__(self, stack: list, n: int):
        super().__init__()
        self.stack = stack
        self.bytes = [0] * (n + 1)
        self.ops = [0] * (n + 1)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **kwargs) if kwargs else func(*args)
        m = self.stack[-1]
        self.ops[m] += 1
        self.bytes[m] += op_bytes(func, args, kwargs, out)
        return out


@contextmanager
def recording_traffic(recorder):
    """`recording(recorder)` (core/recorder.py) with a Traffic mode inside it, kept on the
    recorder as `recorder.traffic`: pass it wherever `recording` is taken."""
    traffic = Traffic(recorder.stack, recorder.outside)
    recorder.traffic = traffic
    with recording(recorder), traffic:
        yield recorder
