"""Paired latency in a comparison: every model timed side by side with its base, in one run.

Per-model medians are taken minutes apart, so a process that starts between two models decides
their latency delta. Once every report exists (measured or reused), each (model, base) pair of the
comparison is timed again in interleaved rounds (archlab.profile.paired) and the ratio model/base
is kept with the comparison. Each finished pair is saved at once, keyed by both reports' cache keys
and the pairing settings, so a rerun after an interruption times only the missing pairs. The
timing itself is a callable handed in by the caller: this package never imports the models.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .cache import lookup_pair, pair_key, store_pair
from .compare import Comparison
from .runner import Tally, log_above_bar, one_line, progress_bar, safe_name
from .units import is_missing

PAIRS_FOLDER = "pairs"


@dataclass
class PairJob:
    model: str
    base: str
    key: dict  # cache.pair_key(...)
    path: Path  # where its result is saved


@dataclass
class PairRun(Tally):
    paired: dict[str, dict] = field(default_factory=dict)  # model -> ratio stats, or why there are none
    timed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return self._line(f"paired latency: timed {len(self.timed)}, reused {len(self.reused)} pair(s)")


def pair_path(folder: str | Path, model: str, base: str) -> Path:
    return Path(folder) / PAIRS_FOLDER / f"{safe_name(model)}__vs__{safe_name(base)}.json"


def _has_latency(comp: Comparison, name: str) -> bool:
    r = comp.reports.get(name)
    return r is not None and not is_missing(r.totals.get("latency_ms"))


def _shape_text(key: dict) -> str:
    return "x".join(str(v) for v in key.get("input", [])) + f", batch {key.get('batch')}"


def plan_pairs(comp: Comparison, keys: dict[str, dict], folder: str | Path,
               settings: dict) -> tuple[list[PairJob], dict[str, dict]]:
    """The pairs to time (each model with a base, both measured with latency) and, for models that
    cannot be paired because their input differs from their base's, the reason.

    keys: each model's cache key (cache.request_key); settings: how pairs are timed (part of the
    pair's key, so a change of settings times them again)."""
    jobs, skipped = [], {}
    for model in comp.order:
        base = comp.bases.get(model)
        if base is None or not (_has_latency(comp, model) and _has_latency(comp, base)):
            continue  # a failed model or base already says why in the table
        mk, bk = keys[model], keys[base]
        if (mk.get("input"), mk.get("batch")) != (bk.get("input"), bk.get("batch")):
            skipped[model] = {"base": base, "skipped": f"no paired ratio: input {_shape_text(mk)} "
                                                      f"differs from the base's {_shape_text(bk)}"}
            continue
        jobs.append(PairJob(model, base, pair_key(mk, bk, settings), pair_path(folder, model, base)))
    return jobs, skipped


def run_pairs(jobs: list[PairJob], time_pair: Callable[[str, str], dict], *, fresh: bool = False,
              progress: bool = True, log: Callable[[str], None] | None = None,
              keep_noisy: bool = False) -> PairRun:
    """Reuse saved pairs (unless `fresh`; an unreliable one only with `keep_noisy`), time the rest
    with `time_pair(model, base)`.

    A pair that raises is recorded in `failures` (and in `paired` as an error) and the run goes on;
    Ctrl-C stops it and returns what finished, with `interrupted` set.
    """
    started = time.perf_counter()
    run = PairRun()
    todo = []
    for job in jobs:
        saved = None if fresh else lookup_pair(job.path, job.key, keep_noisy)
        if saved is not None:
            run.paired[job.model] = saved
            run.reused.append(job.model)
        else:
            todo.append(job)
    say = log or log_above_bar
    if run.reused:
        say(f"reusing {len(run.reused)} paired timing(s) with the same keys"
            + ("" if todo else "; no pair to time (--fresh times them again)"))
    bar = progress_bar(len(todo), "pair", progress)
    try:
        for job in todo:
            bar.set_description_str(f"pairing {job.model} with {job.base}")
            try:
                result = {"base": job.base, **time_pair(job.model, job.base)}
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # one pair failing must not lose the others
                msg = one_line(exc)
                run.failures[job.model] = msg
                run.paired[job.model] = {"base": job.base, "error": msg}
                say(f"pairing {job.model} with {job.base}: failed: {msg}")
            else:
                store_pair(job.path, job.key, result)
                run.paired[job.model] = result
                run.timed.append(job.model)
            bar.update(1)
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        bar.close()
        run.seconds = time.perf_counter() - started
    return run
