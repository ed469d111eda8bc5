"""The model exported to ONNX and run by ONNX Runtime (CPU execution provider; its CUDA provider for
a CUDA device when the installed onnxruntime has one), with per-module times from ORT's profiler.

Exporter: `torch.onnx.export(..., dynamo=True)` (torch.export, then ONNX). The older TorchScript
exporter (dynamo=False) names nodes after module scopes, but it cannot export a conv whose kernel is
computed in forward (Dite-HRNet's dynamic convs: "kernel of unknown shape"). The dynamo exporter
names nodes `node_Conv_12` and instead records every node's module path in its metadata
(`pkg.torch.onnx.name_scopes`), which is what maps ORT's node times back to `named_modules()` names
(onnx_names.py).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn

from ...common import UsageError
from .onnx_names import module_lookup, name_modules_by_neighbours, resolve
from .prepare import Prepared, describe_error, run_with_limit, unprepared

EXTRA_HINT = "onnxruntime runtime needs the deploy extra: pip install -e '.[deploy]'"
PROFILED_CALLS = 5  # per-node time: the median over this many profiled calls


class MissingExtra(UsageError, ImportError):
    """A runtime was asked for whose optional dependencies are not installed (one line to print)."""


def require_onnxruntime():
    """The onnxruntime module, or MissingExtra saying how to install it."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise MissingExtra(f"{EXTRA_HINT} ({e.name} is missing)") from None
    return onnxruntime


def export(model: nn.Module, x: torch.Tensor):
    """The ONNX ModelProto of `model` at the shape of `x` (no dynamic axes: one profile, one shape).
    The exporter's progress lines are swallowed; its errors are not."""
    quiet = io.StringIO()
    chatty = logging.getLogger("torch.onnx")  # warns about every optional package it lacks
    level = chatty.level
    chatty.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own internals, not the model's
            program = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
    finally:
        chatty.setLevel(level)
    return program.model_proto


def _session(ort, proto_bytes: bytes, device: torch.device, *, profile_prefix: str | None = None,
             save_optimized: str | None = None):
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the thread count eager runs with
    options.inter_op_num_threads = 1
    # Without this ORT's idle threads spin after each call and steal the cores from the eager
    # call that follows it in the interleaved rounds.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    if save_optimized is not None:
        options.optimized_model_filepath = save_optimized
        options.log_severity_level = 3  # not the warning that a saved graph is hardware-specific
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    return ort.InferenceSession(proto_bytes, options, providers=providers)


def _forward(session, device: torch.device, reference) -> Callable:
    """A callable x -> outputs. CPU: numpy in and out. CUDA: I/O binding on torch's own buffers,
    outputs preallocated at the reference's shapes, so no call copies through the host."""
    name = session.get_inputs()[0].name
    if device.type != "cuda":
        return lambda x: session.run(None, {name: x.detach().numpy()})
    from .outputs import flat_outputs
    outs = [torch.empty_like(r) for r in flat_outputs(reference)]
    binding = session.io_binding()
    for meta, buf in zip(session.get_outputs(), outs):
        binding.bind_output(meta.name, "cuda", device.index or 0, np.float32, list(buf.shape),
                            buf.data_ptr())

    def run(x):
        x = x.contiguous()
        binding.bind_input(name, "cuda", device.index or 0, np.float32, list(x.shape), x.data_ptr())
        session.run_with_iobinding(binding)
        return outs
    return run


def node_times(ort, proto_bytes: bytes, device: torch.device, x: torch.Tensor,
               table: dict[str, str], *, calls: int = PROFILED_CALLS) -> dict:
    """Per-module milliseconds from ORT's profiler: each node's median kernel time over `calls`
    calls, summed per module; 'mapped_share' is the part of all node time that found a module.
    The session saves the graph it optimised, whose nodes are the ones profiled (onnx_names.py)."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="archlab-ort-") as tmp:
        optimized = os.path.join(tmp, "optimized.onnx")
        session = _session(ort, proto_bytes, device, profile_prefix=os.path.join(tmp, "profile"),
                           save_optimized=optimized)
        feed = {session.get_inputs()[0].name: x.detach().cpu().numpy()}
        for _ in range(calls):
            session.run(None, feed)
        with open(session.end_profiling()) as f:
            events = json.load(f)
        table = name_modules_by_neighbours(onnx.load(optimized).graph, dict(table),
                                           strip_suffixes=True)
    per_node: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_node.setdefault(e["name"][: -len("_kernel_time")], []).append(e["dur"] / 1e3)
    per_module: dict[str, float] = {}
    total = mapped = 0.0
    for node, durations in per_node.items():
        ms = float(np.median(durations))
        total += ms
        module = resolve(node, table)
        if module is not None:
            mapped += ms
            per_module[module] = per_module.get(module, 0.0) + ms
    return {"per_module_ms": {k: round(v, 6) for k, v in per_module.items()},
            "mapped_share": round(mapped / total, 4) if total else None}


def prepare_onnxruntime(model: nn.Module, x: torch.Tensor, device: torch.device, *,
                        time_limit_s: float) -> Prepared:
    """Export (time-limited, see preparing.py), load into an ORT session; prepare_s covers both."""
    ort = require_onnxruntime()
    if device.type == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        return Prepared("onnxruntime", None, 0.0, "this onnxruntime has no CUDA execution provider "
                        "(install onnxruntime-gpu) and would run on the CPU")
    start = time.perf_counter()
    outcome = run_with_limit(lambda: export(model, x), time_limit_s)
    details = {"exporter": "torch.onnx.export(dynamo=True)", "export_s": round(outcome.seconds, 3)}
    failed = unprepared("onnxruntime", "ONNX export", outcome, time_limit_s, details)
    if failed is not None:
        return failed
    proto_bytes = outcome.value.SerializeToString()
    try:
        session = _session(ort, proto_bytes, device)
        with torch.inference_mode():
            reference = model(x)
        forward = _forward(session, device, reference)
    except Exception as e:  # ORT rejects the graph (an operator it lacks, say)
        return Prepared("onnxruntime", None, time.perf_counter() - start,
                        f"ONNX Runtime could not load the model: {describe_error(e)}", details)
    seconds = time.perf_counter() - start
    table = module_lookup(outcome.value, {n for n, _ in model.named_modules()})
    details.update(providers=session.get_providers(), nodes=len(outcome.value.graph.node))
    note = f"exported in {outcome.seconds:.1f} s, {len(outcome.value.graph.node)} ONNX nodes"
    return Prepared("onnxruntime", forward, seconds, note, details,
                    per_module=lambda: node_times(ort, proto_bytes, device, x, table))
