"""The fvcore and thop conventions, run through the tools themselves so their numbers are theirs.

A profile counts both from its one counting pass (fvcore_rules.py, thop_rules.py: the tools' own
rules on what the pass saw, ~40 forward passes cheaper); the tools run here where the pass cannot
stand in for them, and in the tests and benchmarks that check the two agree.

fvcore traces the model with torch.jit (its own hooks, removed by fvcore); its warnings are
silenced and what it skipped is returned instead. thop adds buffers and hooks to the model and
resets the training flag of the whole tree, so it runs on a deep copy and the model stays untouched.
Both report one multiply-add as one.
"""
from __future__ import annotations

import copy
import logging
import warnings
from contextlib import contextmanager, redirect_stdout
from io import StringIO

import torch
from torch import nn

from ...common import UsageError
from .coverage import Counts
from ..core.hooks import ModuleTable
from .fvcore_rules import CATEGORY as _FVCORE_CATEGORY
from .module_rules import module_category
from .thop_rules import ThopCalls


@contextmanager
def _quiet():
    """The tools log and print: keep the profile's output clean."""
    loggers = [logging.getLogger(n) for n in ("fvcore", "fvcore.nn.jit_analysis", "thop")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), redirect_stdout(StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _exclusive_by_category(table: ModuleTable, inclusive: dict) -> dict:
    """{name: Counter(op)} inclusive -> {(index, category): count} exclusive."""
    kids: dict[int, list[int]] = {}
    for j, p in enumerate(table.parents):
        kids.setdefault(p, []).append(j)
    cats: dict = {}
    for i, name in enumerate(table.names):
        own = dict(inclusive.get(name, {}))
        for j in kids.get(i, ()):
            for op, v in inclusive.get(table.names[j], {}).items():
                own[op] = own.get(op, 0) - v
        for op, v in own.items():
            if v:
                key = (i, _FVCORE_CATEGORY.get(op, "other"))
                cats[key] = cats.get(key, 0) + v
    return cats


def _positional(inputs, tool: str) -> tuple:
    """The tools call a model with positional arguments only."""
    if inputs.kwargs:
        raise UsageError(f"{tool} calls a model with positional arguments only; these inputs "
                         "have keyword arguments")
    return inputs.args


def run_fvcore(model: nn.Module, inputs, table: ModuleTable) -> Counts:
    with _quiet(), torch.no_grad():
        from fvcore.nn import FlopCountAnalysis

        fca = FlopCountAnalysis(model, _positional(inputs, "fvcore"))
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        fca.tracer_warnings("none")
        by_module = fca.by_module()
        by_op = fca.by_module_and_operator()
        skipped = dict(fca.unsupported_ops())
    per_module = [int(by_module[n]) if n in by_module else None for n in table.names]
    sources = {(_FVCORE_CATEGORY.get(op, "other"), f"fvcore:{op}"): int(v)
               for op, v in by_op.get("", {}).items() if v}
    return Counts(per_module, int(fca.total()), _exclusive_by_category(table, by_op), sources,
                  skipped)


def run_thop(model: nn.Module, inputs, table: ModuleTable) -> Counts:
    args = _positional(inputs, "thop")
    clone = copy.deepcopy(model)  # thop leaves buffers and flips training flags: not on ours
    with _quiet(), torch.no_grad():
        from thop import profile as thop_profile

        total, _, tree = thop_profile(clone, inputs=args, verbose=False, ret_layer_info=True)
    return _thop_counts(table, total, tree, ThopCalls.rules_of(table))


def thop_counts(table: ModuleTable, calls: ThopCalls) -> Counts:
    """thop's numbers from its rules run on the counting pass's calls (thop_rules.ThopCalls),
    summed down the tree as thop.profile's dfs_count sums them: a module with a rule stands for its
    subtree (containers excepted), every other module is its children's sum."""
    total_ops = calls.totals()
    ruled = {m for m, rule in zip(table.modules, calls.rules) if rule is not None}

    def dfs(module):
        own = total_ops.get(module)
        total, tree = (own.item() if own is not None else 0.0), {}
        for name, m in module.named_children():
            if m in ruled and not isinstance(m, (nn.Sequential, nn.ModuleList)):
                got = total_ops.get(m)
                ops, sub = (got.item() if got is not None else 0.0), {}
            else:
                ops, sub = dfs(m)
            tree[name] = (ops, 0, sub)
            total += ops
        return total, tree
    return _thop_counts(table, *dfs(table.modules[0]), calls.rules)


def _thop_counts(table: ModuleTable, total: float, tree: dict, rules: list) -> Counts:
    """{name: (ops, params, subtree)} as thop.profile(ret_layer_info=True) returns it, and thop's
    rule per module (None: it has none) -> Counts."""
    flat: dict[str, float] = {"": float(total)}
    children: dict[str, float] = {}

    def walk(prefix, node):
        for name, (ops_, _params, sub) in node.items():
            full = f"{prefix}.{name}" if prefix else name
            flat[full] = float(ops_)
            children[prefix] = children.get(prefix, 0.0) + float(ops_)
            walk(full, sub)
    walk("", tree)
    per_module = [int(round(flat[n])) if n in flat else None for n in table.names]
    cats, sources = {}, {}
    for i, n in enumerate(table.names):
        own = int(round(flat.get(n, 0.0) - children.get(n, 0.0)))
        if own:
            cat = module_category(table.modules[i])
            cats[(i, cat)] = cats.get((i, cat), 0) + own
            sources[(cat, table.types[i])] = sources.get((cat, table.types[i]), 0) + own

    # leaf modules thop has no rule for count 0 without a word (Sigmoid, custom convs): list them
    blind: dict[str, int] = {}
    for m, leaf, rule in zip(table.modules, table.leaf, rules):
        if leaf and rule is None and not isinstance(m, nn.Identity):
            blind[type(m).__name__] = blind.get(type(m).__name__, 0) + 1
    return Counts(per_module, int(round(total)), cats, sources, blind)
