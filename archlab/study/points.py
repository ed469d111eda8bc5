"""Measuring sweep points: one path, whichever launcher runs it.

Each point is planned (checked and built), then measured through the profile item every pipeline uses
(`profile_item`: store lookup first, then profile, then `Store.save`), and, when latency is measured,
timed side by side with its base at the same input and batch (the paired timing `compare` makes,
under the same key, so the two commands share it). The local launcher calls `measure_points` in
process; a submitit job calls `run_points`, the module-level function a cluster job can import,
which plans its points again on the machine that measures them.
"""
from __future__ import annotations

import dataclasses
import socket
import sys

from .grid import Point
from .options import Measure, Policy
from .pipelines import profile_item
from .planning import Builds, Job, plan
from .run import Item, Skipped, Tally, one_line, run
from .store import Store, pair_key


def plan_points(points, measure: Measure, *, force: bool = False, builds: Builds | None = None,
                log=lambda msg: None) -> tuple[dict[str, Job], dict[str, str]]:
    """Plan each point on its own (label -> Job); a point that cannot be built or cannot take its
    input is kept with the one-line reason (label -> why), never stopping the others. Each model
    is let go once checked, or kept in `builds` for its measurement while they fit (Builds)."""
    jobs, invalid = {}, {}
    for p in points:
        try:
            [job] = plan([p.name], measure, input_size=tuple(p.shape), batch=p.batch, force=force,
                         keep_models=False, builds=builds, say=log)
        except (ValueError, RuntimeError, MemoryError) as exc:
            invalid[p.label] = one_line(exc).split(": ", 1)[-1]
            continue
        jobs[p.label] = job
    return jobs, invalid


def pair_item(label: str, mj: Job, bj: Job, store: Store, measure: Measure, policy: Policy, *,
              runtime: str = "eager", modules: bool = False, builds: Builds | None = None) -> Item:
    """The paired timing of one model with its base (both built in this process), both run under
    `runtime` ("eager": as they are); `modules` (eager only): with per-module paired deltas, the
    modules both have timed in the same rounds (timing/module_pairs.py), stored with the pair."""
    from ..profile.deploy.pairs import paired_runtime_latency
    from ..profile.timing.paired import PAIR_BUDGET_S, paired_latency

    modules = modules and runtime == "eager"
    key = pair_key(mj.key, bj.key, runtime, modules)

    def measure_it(progress):
        progress("timing side by side with the base"
                 + ("" if runtime == "eager" else f", both under {runtime}"))
        common = dict(batch=mj.batch, device=measure.device, threads=measure.threads,
                      budget_s=measure.budget_s or PAIR_BUDGET_S)
        model, base = mj.built(builds), bj.built(builds)
        got = (paired_latency(model, base, mj.shape, per_module=modules, **common)
               if runtime == "eager"
               else paired_runtime_latency(model, base, mj.shape, runtime, **common))
        if got.get("ratio") is None:  # a failure is recorded by the run, never stored as a result
            raise RuntimeError(got.get("note") or "the pair could not be timed")
        if got.get("reliable") is False:
            policy.log(f"{label} vs {bj.name}: ⚠ paired latency not reliable: "
                       + "; ".join(got["warnings"]))
        return {"base": bj.name, **got}

    return Item(label, lookup=lambda: store.lookup_pair(mj.name, bj.name, key, policy.keep_noisy,
                                                        policy.resume_since),
                measure=measure_it, save=lambda r: store.save_pair(mj.name, bj.name, key, r))


def measure_points(points, jobs: dict[str, Job], store: Store, measure: Measure, policy: Policy, *,
                   builds: Builds | None = None, wrap=lambda item: item) -> tuple[Tally, Tally | None]:
    """Profile every planned point (reusing the store) and, with latency, pair it with its base
    right after, while its model is built: each (spec, weights) is built once (planning.Builds),
    the base's build serves every pair. `jobs` holds the points' jobs and their bases' (by label);
    `wrap(item)` may dress each profile item (a job announces each point in its log). Returns the
    points' tally and the pairs' (None when no pair is wanted)."""
    todo = [p for p in points if p.label in jobs]
    builds = builds if builds is not None else Builds()
    profiled, items, pairs = {}, [], {}
    pairing = measure.pairs_wanted
    for p in todo:
        job = jobs[p.label]
        item = dataclasses.replace(profile_item(job, store, measure, policy, builds), name=p.label)
        items.append(wrap(_using(_keeping(item, profiled), builds, job)))
        base = jobs.get(p.base) if p.base_name is not None else None
        if pairing and base is not None:
            name = f"{p.label} \u21c4 {base.name}"
            pairs[name] = p.label
            items.append(_using(_if_timed(pair_item(p.label, job, base, store, measure, policy,
                                                    builds=builds), name, profiled),
                                builds, job, base))
    tally = run(items, fresh=policy.fresh, progress=policy.progress, unit="measurement",
                log=policy.log)
    points_tally, pairs_tally = _split(tally, pairs)
    return points_tally, (pairs_tally if pairing else None)


def _keeping(item: Item, profiled: dict) -> Item:
    """The profile item, keeping its report (stored or measured) where its pair looks for it."""
    def lookup(inner=item.lookup):
        found = inner()
        if found is not None:
            profiled[item.name] = found
        return found

    def save(report, inner=item.save):
        profiled[item.name] = report
        inner(report)
    return dataclasses.replace(item, lookup=lookup, save=save)


def _if_timed(item: Item, name: str, profiled: dict) -> Item:
    """The pair item, skipped when its point has no latency (a failed point says why in its row)."""
    def measure(progress, inner=item.measure):
        report = profiled.get(item.name)
        if report is None or report.totals.get("latency_ms") is None:
            raise Skipped
        return inner(progress)
    return dataclasses.replace(item, name=name, measure=measure)


def _using(item: Item, builds: Builds, *jobs: Job) -> Item:
    """The item, counting its use of its jobs' models: done once measured or found in the store."""
    for job in jobs:
        builds.need(job)

    def release():
        for job in jobs:
            builds.done(job)

    def lookup(inner=item.lookup):
        found = inner()
        if found is not None:
            release()
        return found

    def measure(progress, inner=item.measure):
        try:
            return inner(progress)
        finally:
            release()
    return dataclasses.replace(item, lookup=lookup, measure=measure)


def _split(tally: Tally, pairs: dict) -> tuple[Tally, Tally]:
    """One run's tally as the points' and the pairs' (pair names back to their point's label)."""
    def part(keep, rename):
        return Tally(results={rename(n): r for n, r in tally.results.items() if keep(n)},
                     measured=[rename(n) for n in tally.measured if keep(n)],
                     reused=[rename(n) for n in tally.reused if keep(n)],
                     failures={rename(n): w for n, w in tally.failures.items() if keep(n)},
                     partial=[rename(n) for n in tally.partial if keep(n)],
                     interrupted=tally.interrupted, seconds=tally.seconds)
    return (part(lambda n: n not in pairs, lambda n: n),
            part(lambda n: n in pairs, lambda n: pairs.get(n, n)))


def _job_log(msg: str) -> None:
    print(f"archlab: {msg}", file=sys.stderr, flush=True)  # a cluster job's log file


def _announced(item: Item, log) -> Item:
    """The item, saying in the job's log when it starts (which point a job that died was in)."""
    def measure(progress, inner=item.measure):
        log(f"{item.name}: measuring")
        return inner(progress)
    return dataclasses.replace(item, measure=measure)


def run_points(points: list[Point], store_root: str, measure: Measure, policy: Policy) -> dict:
    """A job's work: plan `points` (and their bases, for pairing), measure what the store at
    `store_root` lacks, save it there, and return what it did: labels measured, reused and failed,
    the key of every point (the parent reads the store with these), and the signal that cut it
    short, if any."""
    log = _job_log
    policy = dataclasses.replace(policy, log=log, progress=False)
    log(f"job on {socket.gethostname()}: {len(points)} point(s): " + ", ".join(p.label for p in points))
    labels = {p.label for p in points}
    bases = {p.base: Point(p.base, p.base_name, p.shape, p.batch) for p in points
             if measure.pairs_wanted and p.base is not None and p.base not in labels}
    builds = Builds()
    jobs, invalid = plan_points([*points, *bases.values()], measure, force=policy.force,
                                builds=builds, log=log)
    tally, pairs = measure_points(points, jobs, Store(store_root), measure, policy, builds=builds,
                                  wrap=lambda item: _announced(item, log))
    failures = {**{lab: why for lab, why in invalid.items() if lab in labels}, **tally.failures}
    log(f"job done: {tally.line('points: ')}" + (f"; pairs: {pairs.line()}" if pairs else ""))
    return {"points": {"measured": tally.measured, "reused": tally.reused, "failures": failures},
            "pairs": None if pairs is None else {"measured": pairs.measured,
                                                 "reused": pairs.reused,
                                                 "failures": pairs.failures},
            "keys": {lab: job.key for lab, job in jobs.items()},
            "interrupted": tally.interrupted or (pairs.interrupted if pairs else None),
            "host": socket.gethostname()}
