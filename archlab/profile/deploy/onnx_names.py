"""ONNX node names -> archlab module names, so ONNX Runtime's per-node times land on modules.

torch's dynamo exporter names nodes `node_Conv_12` and records each node's module path in the node's
metadata (`pkg.torch.onnx.name_scopes`: ['', 'stem', 'stem.conv1', 'stem.conv1.bn', '<op>']); the
deepest entry that is a `named_modules()` name is the node's module. Three kinds of node carry no
such record, and each gets a module by the rule that fits it:
- nodes the exporter's optimiser rewrote (a chunk turned into one Split): the deepest module that
  holds every module reading its outputs (or, when nothing reads them, writing its inputs);
- nodes ORT makes when it loads the graph and names after an original node or the tensor it
  produces, plus a suffix (`relu_nchwc`): looked up with `_suffix` parts stripped one at a time;
- nodes ORT invents outright (layout reorders `ReorderInput_token_7`): by the neighbour rule again,
  read from the optimised graph ORT saves.
What still finds no module counts in the unmapped share the row reports.
"""
from __future__ import annotations

import ast

MAX_PASSES = 4  # an unnamed node beside unnamed ones gets its module a pass after them


def _scope(node, modules: set[str]) -> str | None:
    """The deepest `named_modules()` name among a node's recorded name scopes."""
    raw = next((p.value for p in node.metadata_props
                if p.key == "pkg.torch.onnx.name_scopes"), None)
    if raw is None:
        return None
    try:
        scopes = ast.literal_eval(raw)  # the repr of a list of str
    except (ValueError, SyntaxError):
        return None
    return next((s for s in reversed(scopes) if s in modules), None)


def resolve(name: str, table: dict[str, str]) -> str | None:
    """The module of a node name: exact, else with trailing `_suffix` parts stripped."""
    while name:
        if name in table:
            return table[name]
        head, sep, _ = name.rpartition("_")
        if not sep:
            return None
        name = head
    return None


def common_module(names: list[str]) -> str:
    """The deepest module holding all of `names` ('' is the whole model)."""
    split = [n.split(".") if n else [] for n in names]
    prefix = []
    for parts in zip(*split):
        if any(p != parts[0] for p in parts):
            break
        prefix.append(parts[0])
    return ".".join(prefix)


def name_modules_by_neighbours(graph, table: dict[str, str], *,
                               strip_suffixes: bool) -> dict[str, str]:
    """Give every node of `graph` whose name finds no module the common module of the nodes that
    read its outputs, else of those that write its inputs; updates and returns `table`.
    strip_suffixes: look names up as `resolve` does (ORT's graph), or only exactly (the exporter's,
    where `node_add_1` stripped would find `node_add`, another node)."""
    def lookup(name: str) -> str | None:
        return resolve(name, table) if strip_suffixes else table.get(name)

    writers = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list] = {}
    for node in graph.node:
        for value in node.input:
            readers.setdefault(value, []).append(node)
    for _ in range(MAX_PASSES):
        found = {}
        for node in graph.node:
            if lookup(node.name) is not None:
                continue
            near = [lookup(r.name) for v in node.output for r in readers.get(v, [])]
            near = [m for m in near if m is not None]
            if not near:
                near = [lookup(writers[v].name) for v in node.input if v in writers]
                near = [m for m in near if m is not None]
            if near:
                found[node.name] = common_module(near)
        if not found:
            break
        table.update(found)
    return table


def module_lookup(proto, modules: set[str]) -> dict[str, str]:
    """Node names of an exported model, and the names of the tensors they produce (ORT names some
    of its nodes after them), -> module name."""
    table: dict[str, str] = {}
    scopes = {node.name: _scope(node, modules) for node in proto.graph.node}
    for node in proto.graph.node:
        if scopes[node.name] is not None:
            for value in node.output:
                table.setdefault(value, scopes[node.name])
    for node in proto.graph.node:  # a node's own name wins over a tensor of the same name
        if scopes[node.name] is not None:
            table[node.name] = scopes[node.name]
    return name_modules_by_neighbours(proto.graph, table, strip_suffixes=False)
