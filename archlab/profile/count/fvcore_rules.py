"""The fvcore convention without a JIT trace: fvcore's own op handles, run on the operators the
counting pass already sees.

fvcore's FlopCountAnalysis traces the model with torch.jit (a trace costs ~40 plain forwards of a
Dite-HRNet) and gives each trace node to the handle its table keeps for the node's kind. Under
torch.inference_mode the dispatch recorder sees each torch call as the op the user called (conv2d,
linear, matmul, batch_norm, upsample_nearest2d stay whole): the level a trace records too. The
tracer differs only for the ops it never records itself (tools/autograd/gen_trace_type.py):
convolutions, recorded as aten::_convolution (aten::_convolution_mode with a padding string), and
the recurrent cells and conv_tbc, recorded as their parts. So each op goes to the handle of its
trace node — fvcore's table, unchanged — with the node's inputs in ATen's order (all a handle
reads), filed under the innermost module running: the scope fvcore's trace gives it. An op this
table cannot map (a recurrent cell) makes the tally give way to fvcore itself (external.py); tests
keep running FlopCountAnalysis beside it on every zoo model and a set of torch models.
"""
from __future__ import annotations

from torch import Tensor

from .coverage import Counts

# the ops the tracer does not record as themselves: convolutions get their trace node here; the
# rest are recorded as parts this table does not rebuild
_CONVS = {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::convolution", "aten::_convolution"}
_TRANSPOSED = {"aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d"}
_UNMAPPED = {"aten::conv_tbc", "aten::lstm_cell", "aten::gru_cell", "aten::rnn_tanh_cell",
             "aten::rnn_relu_cell"}

# what fvcore's by_operator names an op (its conv handle answers "conv"); the category it adds to
CATEGORY = {
    "conv": "conv", "addmm": "matmul", "bmm": "matmul", "einsum": "matmul", "matmul": "matmul",
    "mm": "matmul", "linear": "matmul", "batch_norm": "norm", "group_norm": "norm",
    "layer_norm": "norm", "instance_norm": "norm", "upsample_nearest2d": "upsample",
    "upsample_bilinear2d": "upsample", "adaptive_avg_pool2d": "pool", "grid_sampler": "upsample",
}


class _Value:
    """What a handle reads of a torch._C.Value (a trace node's input or output), for a value seen
    at run time: its shape when it is a tensor, the value itself, the tensors of a list."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def isCompleteTensor(self) -> bool:  # noqa: N802 -- torch._C.Value's names
        return isinstance(self.v, Tensor)

    def type(self):
        return self

    def sizes(self) -> list:
        return list(self.v.shape)

    def toIValue(self):  # noqa: N802
        return self.v

    def node(self):  # a list input: einsum's operands
        return self

    def inputs(self) -> list:
        return [_Value(t) for t in self.v]


def _schema_args(func, args, kwargs) -> list:
    """Every argument of the op in its schema's order (a trace node's inputs), defaults filled."""
    got = list(args)
    for a in func._schema.arguments[len(got):]:
        got.append(kwargs[a.name] if a.name in kwargs else a.default_value)
    return got


def _conv_args(transposed):
    """aten::_convolution's 13 inputs, of which a handle reads input, weight and `transposed`."""
    def args(func, a, kw):
        given = _schema_args(func, a, kw)
        flag = given[6] if func._schema.name.endswith("convolution") else transposed
        return given[:6] + [flag] + [None] * 6
    return args


class FvcoreTally:
    """Per module (table index; the last slot: outside every module), exclusive counts per fvcore op
    name, and the trace kinds fvcore has no handle for (its "unsupported ops"). `doubt` says why the
    tally cannot stand for fvcore's, when it cannot."""

    def __init__(self, n: int):
        from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS
        from fvcore.nn.jit_analysis import _IGNORED_OPS

        self.handles, self.ignored = _DEFAULT_SUPPORTED_OPS, _IGNORED_OPS
        self.by_op = [None] * (n + 1)  # dict op -> count, made on first use
        self.skipped: dict[str, int] = {}
        self.doubt: str | None = None
        self._rules: dict = {}  # op overload -> (trace kind, fvcore's handle or None, inputs)

    def _rule(self, func):
        name = func._schema.name
        if name in _UNMAPPED and self.doubt is None:
            self.doubt = f"{name} is traced as its parts"
        if name in _CONVS or name in _TRANSPOSED:
            kind = "aten::_convolution_mode" if func._overloadname == "padding" else "aten::_convolution"
            rule = (kind, _conv_args(name in _TRANSPOSED))
        else:
            rule = (name, _schema_args)
        return (rule[0], self.handles.get(rule[0]), rule[1])

    def add(self, func, m: int, args, kwargs, out) -> None:
        rule = self._rules.get(func)
        if rule is None:
            rule = self._rules[func] = self._rule(func)
        kind, handle, inputs = rule
        if handle is None:
            if kind not in self.ignored:
                self.skipped[kind] = self.skipped.get(kind, 0) + 1
            return
        outs = out if isinstance(out, (tuple, list)) else (out,)
        try:
            got = handle([_Value(v) for v in inputs(func, args, kwargs)], [_Value(v) for v in outs])
        except Exception as exc:  # fvcore's own trace would fail here too: let it say how
            self.doubt = self.doubt or f"fvcore's {kind} handle failed: {type(exc).__name__}"
            return
        ops = got.items() if isinstance(got, dict) else ((kind.partition("::")[2], got),)
        mine = self.by_op[m]
        if mine is None:
            mine = self.by_op[m] = {}
        for op, v in ops:
            mine[op] = mine.get(op, 0) + v

    def counts(self, table) -> Counts:
        """The tally as external.run_fvcore gives fvcore's: inclusive per module, exclusive per
        (module, category), the model's total per op, the kinds fvcore skipped."""
        n = len(table)
        own = [dict(d) if d else {} for d in self.by_op[:n]]
        for op, v in (self.by_op[n] or {}).items():  # outside every module: the model's scope
            own[0][op] = own[0].get(op, 0) + v
        exclusive = [sum(d.values()) for d in own]
        per_module = [int(v) for v in table.inclusive(exclusive)]
        cats, by_op = {}, {}
        for i, d in enumerate(own):
            for op, v in d.items():
                if v:
                    key = (i, CATEGORY.get(op, "other"))
                    cats[key] = cats.get(key, 0) + v
                    by_op[op] = by_op.get(op, 0) + v
        sources = {(CATEGORY.get(op, "other"), f"fvcore:{op}"): int(v) for op, v in by_op.items() if v}
        return Counts(per_module, per_module[0], {k: int(v) for k, v in cats.items()}, sources,
                      dict(self.skipped))
