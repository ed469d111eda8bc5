"""What a model costs once deployed: eager PyTorch beside BN-folded ("fused"), torch.compile'd and
ONNX Runtime versions of it, each checked against eager and timed side by side with it.

    rows = profile_runtimes(model, (3, 256, 192), ("eager", "fused", "compile", "onnxruntime"),
                            threads=1)

Every runtime is prepared from the same model (preparing.py, onnx_runtime.py), run once on the
profiling input (env.random_input, the input every archlab measurement uses) and compared with
eager's outputs (outputs.py: max |y - y_eager| / max |y_eager| per output tensor, the largest over
the outputs; beyond 1e-4 the runtime computes something else and its time is not valid). Then all
of them, eager included, are timed in ONE side-by-side run (timing/harness.side_by_side:
interleaved rounds, the order rotated each round), so that every ratio to eager divides samples
taken in the same round, and load that comes and goes hits every runtime alike. A runtime that
cannot be prepared or run gets a row that says why; nothing here raises for a model that fails to
compile or export.
"""
from __future__ import annotations

import difflib
from contextlib import ExitStack

import torch
from torch import nn

from ...common import UsageError
from ..core import env as _env
from ..core.hooks import evaluating
from ..timing.budgets import RUNTIMES as RT_BUDGET
from ..timing.harness import side_by_side
from ..timing.stats import judged, judged_ratio
from .onnx_runtime import MissingExtra, prepare_onnxruntime, require_onnxruntime
from .outputs import REL_TOLERANCE, compare
from .prepare import Prepared, describe_error, prepare_compile, prepare_eager, prepare_fused

RUNTIMES = {"eager": prepare_eager, "fused": prepare_fused, "compile": prepare_compile,
            "onnxruntime": prepare_onnxruntime}
# A cold inductor compile of dite18 takes minutes on a busy 2-core machine; the ONNX export longer.
COMPILE_LIMIT_S, EXPORT_LIMIT_S = 900.0, 900.0
RT_WARMUP, RT_ROUNDS, RT_BUDGET_S = RT_BUDGET.warmup, RT_BUDGET.max_rounds, RT_BUDGET.budget_s
ROW_KEYS = ("name", "latency_ms", "ratio_to_eager", "ratio_p10", "ratio_p90", "n", "max_abs_diff",
            "max_rel_diff", "prepare_s", "valid", "note", "reliable", "warnings", "peak_bytes",
            "per_module_ms", "mapped_share", "details")

__all__ = ["RUNTIMES", "ROW_KEYS", "MissingExtra", "Prepared", "check_runtimes", "prepare_runtime",
           "profile_runtimes"]


def check_runtimes(runtimes) -> list[str]:
    """Runtime names from a list or a comma-separated string, each once, eager first (it is the
    base of every ratio, so it is always measured). ValueError for an unknown name (with the valid
    ones and the closest match); MissingExtra for onnxruntime without the deploy extra."""
    items = runtimes.split(",") if isinstance(runtimes, str) else list(runtimes)
    names = []
    for item in items:
        name = str(item).strip()
        if name not in RUNTIMES:
            close = difflib.get_close_matches(name, list(RUNTIMES), n=1, cutoff=0.0)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"unknown runtime '{name}'{hint} (choices: {', '.join(RUNTIMES)})")
        if name not in names:
            names.append(name)
    if "onnxruntime" in names:
        require_onnxruntime()
    return ["eager"] + [n for n in names if n != "eager"]


def prepare_runtime(name: str, model: nn.Module, example_input: torch.Tensor, device, *,
                    time_limit_s: float = COMPILE_LIMIT_S) -> Prepared:
    """`model` (in eval mode, on `device`) made ready to run under runtime `name`; see Prepared.
    `time_limit_s` bounds a compile or an export (preparing.run_with_limit). Raises only for an
    unknown name or a missing extra; a runtime that cannot be prepared comes back with forward None
    and a note."""
    check_runtimes([name])
    prepare = RUNTIMES[name]
    dev = _env.check_device(device)
    try:
        return prepare(model, example_input, dev, time_limit_s=time_limit_s)
    except MissingExtra:
        raise
    except Exception as e:  # any other failure of a preparation is a row, not a crash
        return Prepared(name, None, 0.0, f"could not prepare: {describe_error(e)}")


def _cuda_peak(fn, dev: torch.device) -> int:
    """Bytes the caching allocator held at its peak during one call, above what it held before."""
    torch.cuda.synchronize(dev)
    before = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    fn()
    torch.cuda.synchronize(dev)
    return int(torch.cuda.max_memory_allocated(dev) - before)


def _empty_row(p: Prepared, note: str) -> dict:
    row = dict.fromkeys(ROW_KEYS)
    row.update(name=p.name, prepare_s=round(p.prepare_s, 3), valid=False, note=note, warnings=[],
               details=dict(p.details))
    return row


def _timed_row(p: Prepared, samples: dict, seen: dict, check: dict, method: dict) -> dict:
    own, base = samples[p.name], samples["eager"]
    if p.name == "eager":  # its own spread; a ratio to itself is 1 in every round
        verdict = judged(own, seen)
        ratio = {"ratio": 1.0, "ratio_p10": 1.0, "ratio_p90": 1.0, "n": verdict["n"],
                 "model_ms": verdict["median_ms"]}
    else:
        ratio = verdict = judged_ratio(own, base, seen)
    valid = check["max_rel_diff"] is not None and check["max_rel_diff"] <= REL_TOLERANCE
    note = p.note
    if not valid:
        note = (f"outputs differ from eager: max rel diff {1e6 * check['max_rel_diff']:,.0f} ppm > "
                f"{1e6 * REL_TOLERANCE:,.0f} ppm, time not valid; {note}")
    return {"name": p.name, "latency_ms": round(ratio["model_ms"], 6),
            "ratio_to_eager": round(ratio["ratio"], 6), "ratio_p10": round(ratio["ratio_p10"], 6),
            "ratio_p90": round(ratio["ratio_p90"], 6), "n": ratio["n"],
            "max_abs_diff": check["max_abs_diff"], "max_rel_diff": check["max_rel_diff"],
            "prepare_s": round(p.prepare_s, 3), "valid": valid, "note": note,
            "reliable": verdict["reliable"], "warnings": verdict["warnings"], "peak_bytes": None,
            "per_module_ms": None, "mapped_share": None,
            "details": {**p.details, "timing": method, "samples_ms": [round(t, 6) for t in own]}}


def profile_runtimes(model: nn.Module, input_size, runtimes=("eager",), *, batch: int = 1,
                     device="cpu", threads: int | None = None, seed: int = 0,
                     warmup: int = RT_WARMUP, rounds: int = RT_ROUNDS,
                     budget_s: float = RT_BUDGET_S,
                     compile_limit_s: float = COMPILE_LIMIT_S,
                     export_limit_s: float = EXPORT_LIMIT_S) -> list[dict]:
    """One row per runtime (eager first, then `runtimes` in the order given), each a dict with
    exactly the keys ROW_KEYS:

    name; latency_ms (median over the paired rounds); ratio_to_eager, ratio_p10, ratio_p90 (median
    and spread of the per-round ratios runtime / eager; 1 for eager) and n (rounds); max_abs_diff
    and max_rel_diff against eager on the profiling input (max |y - y_eager| / max |y_eager| per
    output tensor, the largest over the outputs); prepare_s (folding + layout choice, compile, or
    export + session); valid (False when the runtime failed or its outputs differ beyond 1e-4: its time is
    then not valid); note (why, and what else is worth knowing: BNs folded and not, layout kept,
    compile time, graph breaks, export time); reliable and warnings (reliability.assess on the
    spread of its ratios, as paired_latency gives them); peak_bytes (CUDA allocator peak of one call
    for the torch runtimes on a GPU, None otherwise); per_module_ms and mapped_share (onnxruntime:
    module name -> ms from ORT's profiler and the share of node time that mapped to a module; None
    for the others); details (the facts behind the note, the timing method, the samples).
    A failed runtime's timing fields are None. The model is given back as it was found (mode,
    device, weights)."""
    names = check_runtimes(runtimes)
    dev = _env.check_device(device)
    limits = {"compile": compile_limit_s, "onnxruntime": export_limit_s}
    with ExitStack() as stack:
        stack.enter_context(_env.threads(threads))
        stack.enter_context(evaluating(model))
        stack.enter_context(_env.placed(model, dev, "contiguous"))
        x = _env.random_input(model, input_size, batch=batch, device=dev, seed=seed)
        with torch.inference_mode():
            reference = model(x)
        prepared = [prepare_runtime(n, model, x, dev, time_limit_s=limits.get(n, COMPILE_LIMIT_S))
                    for n in names]
        rows: dict[str, dict] = {}
        checks: dict[str, dict] = {}
        for p in prepared:
            if p.forward is None:
                rows[p.name] = _empty_row(p, p.note)
                continue
            if p.name == "eager":  # the reference itself, whatever its outputs are
                checks[p.name] = {"max_abs_diff": 0.0, "max_rel_diff": 0.0, "mismatch": None}
                continue
            try:
                with torch.inference_mode():
                    checks[p.name] = compare(p.forward(x), reference)
            except Exception as e:  # a runtime that prepares but fails when run
                rows[p.name] = _empty_row(p, f"failed when run: {describe_error(e)}; {p.note}")
                continue
            if checks[p.name]["mismatch"]:
                rows[p.name] = _empty_row(p, "outputs unlike eager's: "
                                             f"{checks[p.name]['mismatch']}; {p.note}")
        timed = [p for p in prepared if p.name not in rows]
        forwards = {p.name: (lambda f=p.forward: f(x)) for p in timed}
        budget = RT_BUDGET.but(warmup=warmup, max_rounds=rounds, budget_s=budget_s)
        with torch.inference_mode():
            got = side_by_side(forwards, dev, **budget.kwargs())
        method = {**got.method, "device": str(dev), "threads": torch.get_num_threads(),
                  "batch": batch, "input": list(input_size), **got.watch}
        for p in timed:
            rows[p.name] = _timed_row(p, got.samples, got.watch, checks[p.name], method)
            if dev.type == "cuda" and p.name != "onnxruntime":
                with torch.inference_mode():
                    rows[p.name]["peak_bytes"] = _cuda_peak(forwards[p.name], dev)
            if p.per_module is not None:
                try:
                    rows[p.name].update(p.per_module())
                except Exception as e:  # the profiler is a bonus; its failure is a note
                    rows[p.name]["note"] += f"; no per-node times ({describe_error(e)})"
                else:
                    share = rows[p.name]["mapped_share"]
                    rows[p.name]["note"] += ("; ORT's profiler recorded no node time"
                                             if share is None else
                                             f"; {share:.0%} of node time mapped to modules")
    return [rows[n] for n in names]
