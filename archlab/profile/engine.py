"""profile_module: every number of a Report, measured on any nn.Module, each attributed to the
module that produced it; sweep: many inputs and batches as one table.

Passes, in order, each allowed to fail on its own (the failure becomes a note and the row error of
the module it happened in; what was measured is kept):
1. count: every convention (the dispatch-level ones, paper-hook's module rules, and fvcore's and
   thop's own rules on what the pass sees), activation bytes, the op ledger and peak memory per
   module, all in ONE forward pass (count/counter.py);
2. fvcore or thop themselves (count/external.py), only where the pass cannot stand in for them;
3. latency: plain forwards beside forwards with every operator timed where it runs, in ONE run of
   rotated rounds (timing/operators.py over timing/harness.py), watched for load
   (timing/reliability.py), so the end-to-end median and its split into operators and framework
   overhead come from the same rounds and add up (timing/accounting.py).
The model is evaluated in eval mode under torch.inference_mode and given back as it was found:
hooks removed, training flags, device, memory format and thread count restored.
"""
from __future__ import annotations

import time
from contextlib import ExitStack

import torch
from torch import nn

from ..common import UsageError, first_line
from ..results import ProfileError, ProfileInterrupted, Report

from .core import env as _env
from .assemble import build_report
from .count.conventions import for_mode
from .core.hooks import ModuleTable, evaluating
from .core.inputs import InputRecipe
from .passes import count_pass, external_counts, prepare, time_latency, train
from .roofline import bound as roofline
from .roofline import ceilings
from .timing.budgets import PROFILE

# the profile's budget (timing/budgets.py): WARMUP rounds and WARMUP_S seconds of warm-up, timed
# for BUDGET_S seconds, longer (up to MAX_FACTOR x BUDGET_S) while the spread exceeds 10%
WARMUP, WARMUP_S, BUDGET_S = PROFILE.warmup, PROFILE.warmup_s, PROFILE.budget_s
MAX_FACTOR = PROFILE.max_s / PROFILE.budget_s
MODULE_ITERS = 5  # at least this many operator-timed passes: per-module times are their medians


def _check(module, recipe, batch, memory_format, warmup, budget_s, max_s, module_iters):
    if not isinstance(module, nn.Module):
        raise UsageError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch must be a positive int, got {batch!r}")
    if memory_format not in ("contiguous", "channels_last"):
        raise UsageError(f"memory_format must be 'contiguous' or 'channels_last', "
                         f"got {memory_format!r}")
    if memory_format == "channels_last" and recipe.size is not None and len(recipe.size) != 3:
        raise UsageError("memory_format='channels_last' needs a (C, H, W) input_size")
    if not (isinstance(warmup, int) and warmup >= 0 and isinstance(module_iters, int)
            and module_iters >= 1 and 0 < budget_s <= max_s):
        raise UsageError(f"need warmup >= 0, module_iters >= 1, 0 < budget_s <= max_s; got {warmup}, "
                         f"{module_iters}, {budget_s}, {max_s}")


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    msg = str(exc).lower()
    return "out of memory" in msg or "can't allocate memory" in msg


class _Run:
    """What one profile gathers while its passes run."""

    def __init__(self, table: ModuleTable, batch: int, device: torch.device):
        self.table, self.batch, self.device = table, batch, device
        self.notes: list[str] = []
        self.row_errors: dict[int, str] = {}
        self.forward_ok = True
        self.forward_failed: str | None = None  # the first failure of the model itself
        self.unfinished: set[int] = set()

    def fail(self, phase: str, exc: BaseException, module_index: int | None = None, *,
             forward: bool = False) -> None:
        """Record a failure: in the notes, on the failing module's row and the model's. `forward`:
        the model itself failed to run (not an external counter), so nothing more runs."""
        oom = _is_oom(exc)
        what = "out of memory" if oom else f"{type(exc).__name__}"
        msg = first_line(exc) if str(exc).strip() else ""
        where = ""
        if module_index is not None and 0 <= module_index < len(self.table):
            name = self.table.names[module_index] or "<model>"
            where = f" in module {name!r} ({self.table.types[module_index]})"
            self.row_errors[module_index] = f"{phase}: {what}: {msg}"
        self.row_errors.setdefault(0, f"{phase}: {what}{where}: {msg}")
        self.notes.append(f"error: {phase} failed at batch {self.batch}{where}: {what}: {msg}")
        if forward:
            self.forward_ok = False
            self.forward_failed = self.forward_failed or f"{phase} failed{where}: {what}: {msg}"
        if oom and self.device.type == "cuda":
            torch.cuda.empty_cache()


def profile_module(module: nn.Module, input_size=None, *, example_inputs=None,
                   example_kwargs: dict | None = None, input_constructor=None,
                   batch: int = 1, device="cpu",
                   conventions=None, latency: bool = True, memory: bool = True,
                   per_module: bool = True, count: bool = True, threads: int | None = None,
                   warmup: int = WARMUP, budget_s: float = BUDGET_S, max_s: float | None = None,
                   module_iters: int = MODULE_ITERS, cuda_graph: bool = False,
                   memory_format: str = "contiguous", model_name: str | None = None, spec=None,
                   progress=None, on_error: str = "raise", mode: str = "eval", sgd: bool = False,
                   seed: int = 0) -> Report:
    """Profile any nn.Module. See module doc.

    Inputs (inputs.py): `input_size=(C, H, W)` for a random float tensor of shape
    (batch, C, H, W); or the exact arguments, `example_inputs` (a tensor or a tuple of arguments,
    nested as the model takes them) and `example_kwargs`; or `input_constructor(batch) -> (args,
    kwargs)`. Every measurement uses the same inputs.

    Latency (timing/operators.py): after a warm-up of `warmup` rounds (and WARMUP_S seconds),
    plain calls and calls with every operator timed run in rotated rounds for `budget_s` seconds,
    longer (up to `max_s`, default 3 x budget_s) while the plain calls' spread exceeds 10% or
    the per-module medians are not yet stable (timing/stability.py: at least 30 passes, their
    standard errors summed <= 2% of their total), at least max(module_iters, 4) rounds and at
    most PROFILE.max_rounds; CPU timing keeps glibc's freed memory (timing/faults.py); calls shorter than 1 ms
    are timed in blocks. median_ms is the plain calls'; op_ms (the modules' operator medians) plus
    overhead_ms adds up to it (timing/accounting.py states the rule when the operators exceed it).
    `per_module=False` times plain calls only. `cuda_graph=True` times the whole model as a
    replayed CUDA graph beside eager operator-timed forwards. `count=False` skips the counting passes (to complete a stored profile's
    latency). `progress(phase, done, total)` hears where the profile is.

    A model whose forward fails raises archlab.ProfileError carrying the partial report
    (`on_error="record"` returns it instead, the error in its notes and rows); Ctrl-C raises
    archlab.ProfileInterrupted carrying what finished, marked incomplete.

    mode="train" profiles a training step instead (train/step.py), on a deep copy of the model:
    forward and backward counted and timed per module, bytes saved for backward, the step's peak
    memory; `sgd=True` adds an SGD step to the timed step.
    `conventions`: the counting conventions (count/conventions.py); None, every one for inference
    and, for a training step, those that can count a backward, a note naming the ones left out
    (fvcore and thop count inference only: asking for them in train mode is an error)."""
    max_s = MAX_FACTOR * budget_s if max_s is None else max_s
    recipe = InputRecipe(tuple(input_size) if input_size is not None else None,
                         example_inputs if example_inputs is None or isinstance(example_inputs, tuple)
                         else (example_inputs,), example_kwargs, input_constructor)
    _check(module, recipe, batch, memory_format, warmup, budget_s, max_s, module_iters)
    if cuda_graph and torch.device(device).type != "cuda":
        raise UsageError("cuda_graph=True needs device='cuda'")
    if on_error not in ("raise", "record"):
        raise UsageError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if mode not in ("eval", "train"):
        raise UsageError(f"mode must be 'eval' or 'train', got {mode!r}")
    conventions, left_out = for_mode(conventions, mode)
    if mode == "train" and cuda_graph:
        raise UsageError("cuda_graph times inference only; not with mode='train'")
    dev = _env.check_device(device)
    say = progress if callable(progress) else (lambda *a, **k: None)
    budget = PROFILE.but(warmup=warmup, budget_s=budget_s, max_s=max_s,
                         min_rounds=max(module_iters, PROFILE.min_rounds),
                         max_rounds=max(module_iters, PROFILE.max_rounds))
    t_start = time.perf_counter()
    result: dict = {}
    interrupted = machine = None
    with ExitStack() as stack:
        stack.enter_context(_env.gc_paused())
        table = ModuleTable(module)
        run = _Run(table, batch, dev)
        if left_out:
            run.notes.append(left_out)
        params = table.param_stats()
        n_threads = stack.enter_context(_env.threads(threads))
        dtype = _env.model_dtype(module)
        if mode == "train":
            try:
                train(module, recipe, batch, dev, memory_format, seed, run, result, say,
                      count=count, latency=latency, conventions=conventions, memory=memory,
                      sgd=sgd, budget=budget, per_module=per_module)
            except KeyboardInterrupt as exc:
                interrupted = exc
            count, latency = False, False  # done above
        else:
            stack.enter_context(evaluating(module))
        try:
            x = (prepare(stack, module, recipe, batch, dev, memory_format, seed, run)
                 if count or latency else None)
            if x is not None:
                result["inputs"] = x
            if count and run.forward_ok:
                say("counting", 0, len(table))
                result["count"] = count_pass(module, x, table, run, memory, say, conventions)
                if run.forward_ok:  # fvcore and thop from the pass, or the tools themselves
                    result.update(external_counts(module, x, table, run, say, conventions,
                                                  result["count"]))
            if latency and run.forward_ok:
                result["timing"] = time_latency(module, x, table, run, say, budget=budget,
                                                per_module=per_module, graph=cuda_graph)
            if "count" in result or "timing" in result:  # the roofline's ceilings, at this
                # run's threads and dtype (a timing-only run: to refill counts measured elsewhere)
                machine = _ceilings(dev, n_threads, dtype, run, say)
        except KeyboardInterrupt as exc:  # keep what finished; the caller decides what next
            interrupted = exc
        environment = _env.environment(dev, threads=n_threads, dtype=dtype,
                                       memory_format=memory_format, conventions=conventions)
        if machine:
            environment["machine"] = machine
    report = build_report(module, table, params, result, run, conventions, environment,
                          recipe=recipe, batch=batch, dtype=dtype, mode=mode,
                          memory_format=memory_format, model_name=model_name, spec=spec,
                          settings={"warmup": warmup, "warmup_s": WARMUP_S, "budget_s": budget_s,
                                    "max_s": max_s, "module_iters": module_iters,
                                    "cuda_graph": cuda_graph, **({"sgd": sgd} if mode == "train"
                                                                 else {})})
    roofline.annotate(report, result, table)
    report.timing["profile_s"] = time.perf_counter() - t_start
    if interrupted is not None:
        done = [p for p in ("count", "timing") if p in result]
        report.complete = False
        report.notes.append("incomplete: interrupted after " + (" and ".join(
            {"count": "counting", "timing": "timing"}[p] for p in done) or "nothing finished")
            + "; the same command completes it")
        raise ProfileInterrupted(report, getattr(interrupted, "signum", None)) from interrupted
    if on_error == "raise" and run.forward_failed:
        raise ProfileError(f"{report.model}: {run.forward_failed}", report)
    return report


def _ceilings(dev, threads, dtype, run, say) -> dict | None:
    """The machine's measured ceilings (roofline/ceilings.py: cached, measured on first use); a
    failure is a note and leaves the roofline out."""
    say("measuring the machine's ceilings (once per device)")
    try:
        return ceilings.machine(dev, threads, dtype)
    except Exception as exc:
        run.notes.append(f"roofline: the machine's ceilings could not be measured: "
                         f"{first_line(exc, typed=True)}")
        return None


def sweep(module: nn.Module, input_sizes, batches, **kw):
    """Profile every (input size, batch) pair; one pandas table, one row per pair.

    Defaults favour speed: conventions=('archlab',) and no per-module timing, unless given.
    A pair that fails (out of memory at a batch, say) keeps its row with the error.
    """
    import pandas as pd

    if isinstance(input_sizes, tuple) and input_sizes and isinstance(input_sizes[0], int):
        input_sizes = [input_sizes]
    if isinstance(batches, int):
        batches = [batches]
    kw.setdefault("conventions", ("archlab",))
    kw.setdefault("per_module", False)
    rows = []
    for size in input_sizes:
        for b in batches:
            rep = profile_module(module, tuple(size), batch=b, on_error="record", **kw)
            t = rep.totals
            lat = t.get("latency_ms")
            errors = [n[len("error: "):] for n in rep.notes if n.startswith("error: ")]
            rows.append({
                "model": rep.model, "input": "x".join(map(str, size)), "batch": b,
                "params": t.get("params"), "macs": t.get("macs"), "flops": t.get("flops"),
                "macs_per_sample": t.get("macs_per_sample"), "act_bytes": t.get("act_bytes"),
                "peak_bytes": t.get("peak_bytes"), "latency_ms": lat,
                "latency_p10_ms": t.get("latency_p10_ms"),
                "latency_p90_ms": t.get("latency_p90_ms"), "latency_n": t.get("latency_n"),
                "latency_ms_per_sample": lat / b if lat is not None else None,
                "samples_per_s": 1e3 * b / lat if lat else None,
                "device": rep.env.get("device"), "threads": rep.env.get("threads"),
                "error": "; ".join(errors) or None,
            })
    return pd.DataFrame.from_records(rows)
