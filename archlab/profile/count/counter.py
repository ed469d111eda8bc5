"""One forward pass that counts: every dispatch-level convention of the table (conventions.py: the
op table's MACs, credited to each convention whose selector takes the op), paper-hook (module
hooks, last call per module), activation bytes, the op ledger, and CPU or GPU peak memory per
module.

The dispatch handler runs for every op, so it is kept lean: one cached table lookup per op,
per-module accumulators in flat lists indexed by the innermost module on the stack, no per-op
objects beyond the formula's result.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from . import ops
from .conventions import RECORDER_CONVENTIONS, dispatch_conventions
from .fvcore_rules import FvcoreTally
from .thop_rules import ThopCalls
from ..core.hooks import ModuleTable
from ..core.inputs import shapes
from .module_rules import paper_hook_rule
from ..core.recorder import ModuleStack

_CACHE = ops._CACHE
_entry = ops.entry
_COUNTED = ops.COUNTED


def _nbytes(args) -> int:
    n = 0
    for a in args:
        if isinstance(a, Tensor):
            n += a.nbytes
        elif isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, Tensor):
                    n += b.nbytes
    return n


class Recorder(ModuleStack, TorchDispatchMode):
    """Attach with `recording(Recorder(table, memory))`; read the per-module lists afterwards (index =
    module table index; the extra last slot collects ops run outside every module)."""

    def __init__(self, table: ModuleTable, memory=None, on_module_done=None,
                 conventions=RECORDER_CONVENTIONS):
        ModuleStack.__init__(self, table)
        self.done = 0  # module forwards finished, for on_module_done(n)
        self.on_module_done = on_module_done
        TorchDispatchMode.__init__(self)
        n = len(table) + 1
        self.macs = [0] * n  # archlab MACs (every counted op)
        self.flops = [0] * n
        self.act_bytes = [0] * n
        self.act_elems = [0] * n
        self.peak = [None] * n
        self.shapes: list = [None] * n  # (inputs, outputs) of each module's first call
        self.paper_hook = [0] * n  # last call only: overwritten on every call
        # per dispatch convention: exclusive MACs per module, per (module, category), per
        # (category, op) -- the last two say where two conventions part
        names = [c.name for c in dispatch_conventions(conventions)]
        self.counts = {c: [0] * n for c in names}
        self.categories = {c: {} for c in names}
        self.sources = {c: {} for c in names}
        self._dispatch = [(c.selects, self.counts[c.name], self.categories[c.name],
                           self.sources[c.name]) for c in dispatch_conventions(conventions)]
        self.op_calls: dict = {}  # ledger key -> calls
        self.op_traffic: dict = {}  # ledger key -> bytes read + written
        self.entries: dict = {}  # ledger key -> Entry
        self.rule_errors: dict = {}  # module index -> error of its paper-hook rule
        self.formula_errors: dict = {}  # ledger key -> first error of its formula
        self.memory = memory
        self.linear = [isinstance(m, nn.Linear) for m in table.modules] + [False]
        self.rules = [paper_hook_rule(m, leaf) for m, leaf in zip(table.modules, table.leaf)]
        # fvcore's and thop's rules, run on what this pass sees (fvcore_rules.py, thop_rules.py)
        self.fvcore = FvcoreTally(len(table)) if "fvcore" in conventions else None
        self.thop = ThopCalls(table) if "thop" in conventions else None

    # --- module stack (forward hooks): memory frames and the paper-hook rule ride along -------
    def pre_hook(self, i: int):
        stack, calls, memory = self.stack, self.calls, self.memory

        def pre(module, args):
            stack.append(i)
            calls[i] += 1
            if memory is not None:
                memory.enter()
        return pre

    def post_hook(self, i: int):
        stack, memory, rule, peak = self.stack, self.memory, self.rules[i], self.peak
        thop = self.thop if self.thop is not None and self.thop.rules[i] is not None else None

        def post(module, args, out):
            while len(stack) > 1 and stack.pop() != i:  # a child that raised and was caught
                pass
            if memory is not None:
                p = memory.exit()
                if peak[i] is None or p > peak[i]:
                    peak[i] = p
            if rule is not None and args:
                try:
                    self.paper_hook[i] = rule(module, args, out)
                except Exception as exc:  # a module the rule cannot read: say so, count 0
                    self.rule_errors[i] = f"{type(exc).__name__}: {exc}"
            if self.shapes[i] is None:
                self.shapes[i] = (shapes(args), shapes(out))
            if thop is not None:
                thop.note(i, args, out)
            if self.on_module_done is not None:
                self.done += 1
                self.on_module_done(self.done)
        return post

    # --- every op ------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **kwargs) if kwargs else func(*args)
        e = _CACHE.get(func) or _entry(func)
        m = self.stack[-1]
        if self.fvcore is not None:
            self.fvcore.add(func, m, args, kwargs or {}, out)
        key = e.key
        calls = self.op_calls
        if key in calls:
            calls[key] += 1
        else:
            calls[key] = 1
            self.entries[key] = e
        produced = 0
        if e.new_outputs:
            produced = self._produced(m, e, args, out)
        traffic = self.op_traffic
        traffic[key] = traffic.get(key, 0) + _nbytes(args) + produced
        if e.kind == _COUNTED:
            try:
                macs, flops = e.formula(args, kwargs or {}, out)
            except Exception as exc:  # a formula that cannot read this call: ledger, not a crash
                self.formula_errors.setdefault(key, f"{type(exc).__name__}: {exc}")
                return out
            self.macs[m] += macs
            self.flops[m] += flops
            cat, linear = e.category, self.linear[m]
            for selects, counts, cats, sources in self._dispatch:
                if selects(cat, key, linear):
                    counts[m] += macs
                    cats[(m, cat)] = cats.get((m, cat), 0) + macs
                    sources[(cat, key)] = sources.get((cat, key), 0) + macs
        return out

    def _produced(self, m, e, args, out) -> int:
        """Bytes of new storage the op made (reported to the memory tracker)."""
        total = 0
        outs = (out,) if isinstance(out, Tensor) else out if isinstance(out, (tuple, list)) else ()
        for t in outs:
            if not isinstance(t, Tensor):
                continue
            # returned a view after all (the storage object is shared; on the meta device, where
            # every data pointer is 0, only its identity tells)
            if e.maybe_copy and args and isinstance(args[0], Tensor) and \
                    t.untyped_storage() is args[0].untyped_storage():
                continue
            nb = t.nbytes
            total += nb
            self.act_elems[m] += t.numel()
            if self.memory is not None and nb and t.device.type in ("cpu", "meta"):
                self.memory.alloc(t.untyped_storage(), nb)
        self.act_bytes[m] += total
        return total

    def close(self) -> None:
        """Forget the storages still alive, unless a later pass goes on with the same tracker (the
        backward of a training step: keep_memory)."""
        if self.memory is not None and not getattr(self, "keep_memory", False):
            self.memory.close()
