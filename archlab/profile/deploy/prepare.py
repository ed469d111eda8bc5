"""Turning a model into a runtime's callable: eager as it is, fused (BN folded, the faster memory
layout), torch.compile (inductor); ONNX Runtime lives in onnx_runtime.py.

A preparation that can take minutes (a compile, an export) runs in a worker thread with a time
limit. A Python thread cannot be killed, and a subprocess would have to rebuild the model from a
pickle (many models do not pickle), so when the limit passes the caller stops waiting, raises
PreparationAbandoned inside the worker (CPython's PyThreadState_SetAsyncExc, delivered at the
worker's next Python bytecode: compilers spend most of their time in Python) and gives it a grace
period to unwind. Either way the run goes on and the runtime's row says what happened.
"""
from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ...common import first_line
from .fusing import fold_batchnorms
from .layouts import choose_layout

GRACE_S = 30.0  # how long an abandoned preparation gets to unwind


@dataclass
class Prepared:
    """A runtime ready to time. `forward(x)` runs it (None: it could not be prepared, `note` says
    why); `prepare_s` is what preparing took (compile, export, folding and the layout choice);
    `details` holds the facts behind the note; `per_module`, when set, returns per-module
    milliseconds from the runtime's own profiler (called after the timed rounds)."""
    name: str
    forward: Callable | None
    prepare_s: float
    note: str = ""
    details: dict = field(default_factory=dict)
    per_module: Callable[[], dict] | None = None


class PreparationAbandoned(BaseException):
    """Raised inside a preparation thread that ran past its time limit. A BaseException, so that
    the `except Exception` of a compiler does not take it for an error of its own and go on."""


@dataclass
class Outcome:
    finished: bool
    value: object = None
    error: BaseException | None = None
    seconds: float = 0.0
    stopped: bool = True  # False: abandoned and still running in the background


def _interrupt(thread: threading.Thread) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(PreparationAbandoned))


def run_with_limit(fn: Callable[[], object], limit_s: float, *,
                   grace_s: float = GRACE_S) -> Outcome:
    """fn() in a worker thread; waits at most `limit_s` seconds for it (module docstring)."""
    if limit_s <= 0:
        raise ValueError(f"a time limit must be positive, got {limit_s}")
    box: dict = {}

    def work():
        start = time.perf_counter()
        try:
            box["value"] = fn()
        except BaseException as e:  # the worker reports, the caller decides
            box["error"] = e
        box["seconds"] = time.perf_counter() - start

    start = time.perf_counter()
    worker = threading.Thread(target=work, name="archlab-prepare", daemon=True)
    worker.start()
    worker.join(limit_s)
    if worker.is_alive():
        _interrupt(worker)
        worker.join(grace_s)
        return Outcome(False, seconds=time.perf_counter() - start, stopped=not worker.is_alive())
    return Outcome(True, box.get("value"), box.get("error"), box.get("seconds", 0.0))


def describe_error(error: BaseException) -> str:
    """An exception as one short line: its type and first line, then its cause's, when it was
    raised from one (exporters wrap the real reason: 'failed at step 1/3' <- 'set in output')."""
    text = first_line(error, typed=True)
    cause = error.__cause__
    if cause is not None:
        text += f" <- {first_line(cause, typed=True)}"
    return text


def over_limit_note(what: str, outcome: Outcome, limit_s: float) -> str:
    tail = ("" if outcome.stopped
            else "; it is still running in the background and may slow what follows")
    return f"{what} did not finish within the {limit_s:g} s limit{tail}"


def unprepared(name: str, what: str, outcome: Outcome, limit_s: float,
               details: dict) -> Prepared | None:
    """The row of runtime `name` whose time-limited step `what` (a compile, an export) ran past
    its limit or failed; None when it finished."""
    if not outcome.finished:
        return Prepared(name, None, outcome.seconds, over_limit_note(what, outcome, limit_s),
                        details)
    if outcome.error is not None:
        return Prepared(name, None, outcome.seconds,
                        f"{what} failed: {describe_error(outcome.error)}", details)
    return None


def prepare_eager(model: nn.Module, x: torch.Tensor, device: torch.device, *,
                  time_limit_s: float) -> Prepared:
    return Prepared("eager", model, 0.0, "the base of every ratio")


def prepare_fused(model: nn.Module, x: torch.Tensor, device: torch.device, *,
                  time_limit_s: float) -> Prepared:
    """BatchNorm folded into the conv before it (fusing.py), then the faster of contiguous and
    channels_last (layouts.py). The user's model is not touched: folding works on a copy."""
    start = time.perf_counter()
    folded, record = fold_batchnorms(model)
    forward, layout = choose_layout(folded, x, device)
    seconds = time.perf_counter() - start
    if "layout_error" in layout:
        kept = f"contiguous kept (channels_last does not run: {layout['layout_error']})"
    else:
        kept = (f"{layout['layout']} kept (channels_last / contiguous "
                f"{layout['channels_last_ratio']:.2f}x, p10-p90 {layout['channels_last_p10']:.2f}-"
                f"{layout['channels_last_p90']:.2f})")
    return Prepared("fused", forward, seconds, f"{record.summary()}; {kept}",
                    {"fold": record.to_dict(), **layout})


def _graph_breaks() -> int:
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return 0
    return sum(counters["graph_break"].values())


def prepare_compile(model: nn.Module, x: torch.Tensor, device: torch.device, *,
                    time_limit_s: float) -> Prepared:
    """torch.compile (inductor, default options); the first call, which compiles, is timed apart
    and is the preparation time. Runs under inference_mode, as the timed rounds do (a grad-mode
    change would recompile)."""
    breaks = _graph_breaks()
    try:
        compiled = torch.compile(model)
    except Exception as e:  # e.g. a Python or platform torch.compile does not support
        return Prepared("compile", None, 0.0, f"torch.compile failed: {describe_error(e)}")

    def first_call():
        with torch.inference_mode():
            return compiled(x)

    outcome = run_with_limit(first_call, time_limit_s)
    details = {"backend": "inductor", "compile_s": round(outcome.seconds, 3),
               "time_limit_s": time_limit_s}
    failed = unprepared("compile", "compile", outcome, time_limit_s, details)
    if failed is not None:
        return failed
    details["graph_breaks"] = _graph_breaks() - breaks
    note = f"compiled in {outcome.seconds:.1f} s (inductor)"
    if details["graph_breaks"]:
        note += f", {details['graph_breaks']} graph breaks"
    return Prepared("compile", compiled, outcome.seconds, note, details)
