"""Measuring many models in one run: progress, resume, and failures that do not stop the run.

Each finished model is saved at once (see cache.py), so an interrupted run (Ctrl-C, a crash in one
model) keeps everything finished; the same command again measures only what is missing. The
measuring itself is a callable handed in by the caller: this package never imports the models.
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .cache import lookup, store
from .result import Report


@dataclass
class Job:
    name: str
    key: dict  # cache.request_key(...)
    folder: Path  # where its report.json and key.json live


@dataclass
class Tally:
    """What a run over many items did: which failed (with a one-line reason), which were reused from
    disk, whether Ctrl-C cut it short, and how long it took."""

    failures: dict[str, str] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted

    def _line(self, head: str) -> str:
        parts = [head]
        if self.failures:
            parts.append(f"failed {len(self.failures)} ({', '.join(self.failures)})")
        if self.interrupted:
            parts.append("interrupted")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"


@dataclass
class RunResult(Tally):
    reports: dict[str, Report] = field(default_factory=dict)  # in job order, reused and measured
    measured: list[str] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)

    def line(self) -> str:
        return self._line(f"measured {len(self.measured)}, reused {len(self.reused)}")


def safe_name(name: str) -> str:
    """A model name as a file or folder name ("dite18@context=crw" stays readable)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


def one_line(exc: BaseException) -> str:
    """An exception as the one line a run records for the model or pair it failed."""
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0]


def log_above_bar(msg: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)


def progress_bar(total: int, unit: str, enabled: bool):
    """A progress bar on stderr over `total` units, with elapsed time and an estimate of time left."""
    from tqdm.auto import tqdm

    return tqdm(total=total, file=sys.stderr, unit=unit, disable=not enabled or not total,
                dynamic_ncols=True, bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} " + unit
                + "s, {elapsed} elapsed, {remaining} left")


def report_error(report: Report) -> str | None:
    """The errors a report records (its notes first; per-module errors when the notes hold none)."""
    errs = [n[len("error:"):].strip() for n in report.notes if n.startswith("error:")]
    errs = errs or [f"{r.name or '(model)'}: {r.error}" for r in report.rows if r.error]
    return "; ".join(errs) or None


def measured_nothing(report: Report) -> bool:
    """True when the profile failed before counting or timing anything."""
    root = next((r for r in report.rows if r.name == ""), None)
    return root is None or (root.macs is None and root.latency_ms is None)


def run_jobs(jobs: list[Job], measure: Callable[[str, Callable], Report], *, fresh: bool = False,
             latency: bool = True, conventions=None, progress: bool = True,
             log: Callable[[str], None] | None = None, reraise: tuple = (),
             keep_noisy: bool = False) -> RunResult:
    """Reuse what the cache holds (unless `fresh`), measure the rest with `measure(name, on_stage)`.
    A cached report whose latency was not reliable is measured again, unless `keep_noisy`.

    A model that raises is recorded in `failures` and the run goes on; a report whose notes hold
    an error is kept (and shown) but not marked complete, so a rerun measures it again. Ctrl-C
    stops the run and returns what finished, with `interrupted` set. Exceptions of the types in
    `reraise` (a user's mistake, when there is one model) propagate instead.
    """
    started = time.perf_counter()
    result = RunResult()
    todo = []
    for job in jobs:
        result.folders[job.name] = job.folder
        cached = None if fresh else lookup(job.folder, job.key, latency=latency,
                                           conventions=conventions, keep_noisy=keep_noisy)
        if cached is not None:
            result.reports[job.name] = cached
            result.reused.append(job.name)
            if cached.timing.get("reliable") is False:  # only with keep_noisy
                (log or log_above_bar)(f"{job.name}: reusing a latency marked not reliable "
                                       "(--keep-noisy)")
        else:
            todo.append(job)
    say = log or log_above_bar
    if result.reused:
        say(f"reusing {len(result.reused)} finished report(s) with the same key: "
            f"{', '.join(result.reused)}" + ("" if todo else "; nothing to measure (--fresh re-measures)"))
    bar = progress_bar(len(todo), "model", progress)
    try:
        for job in todo:
            bar.set_description_str(f"measuring {job.name}")

            def on_stage(*args, _name=job.name, **kwargs):
                stage = " ".join(str(a) for a in args if a is not None)[:50]
                bar.set_description_str(f"measuring {_name}: {stage}")

            try:
                report = measure(job.name, on_stage)
            except (KeyboardInterrupt, SystemExit, *reraise):
                raise
            except Exception as exc:  # one model crashing must not lose the others
                msg = one_line(exc)
                result.failures[job.name] = msg
                say(f"{job.name}: failed: {msg}")
                bar.update(1)
                continue
            err = report_error(report)
            store(job.folder, report, job.key, latency=latency, conventions=conventions,
                  complete=err is None)
            result.reports[job.name] = report
            result.measured.append(job.name)
            if err:
                result.failures[job.name] = err
                what = "failed" if measured_nothing(report) else "measured with errors"
                say(f"{job.name}: {what}: {err}")
            if report.timing.get("reliable") is False:
                say(f"{job.name}: ⚠ latency not reliable: " + "; ".join(report.timing["warnings"]))
            bar.update(1)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        bar.close()
        order = [j.name for j in jobs]
        result.reports = {n: result.reports[n] for n in order if n in result.reports}
        result.seconds = time.perf_counter() - started
    return result


def check_device(device: str) -> None:
    """Fail before any model is built when the device cannot be used (one clear line)."""
    import torch

    if device == "cpu":
        return
    if not (device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"unknown device {device!r}; use cpu or cuda (cuda:N)")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {device} asked for, but torch sees no CUDA GPU here "
                         f"(torch {torch.__version__}); use --device cpu")
    idx = int(device.split(":")[1]) if ":" in device else 0
    if idx >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) visible")
