"""The submitit launcher of a sweep: the points the store lacks, measured as submitit jobs.

`submitit.AutoExecutor` picks SLURM where the cluster's tools are found and submitit's local executor
(real processes on this machine) elsewhere; `cluster="local"` forces the latter. Every job runs
`run_points` (archlab.study.points), the very path the local launcher runs in process, and writes into
the same store. Latency jobs hold one point each and a whole device (one GPU, or `threads` cores);
counting-only jobs hold up to `points_per_job` points. On SLURM the jobs go in as one job array; on
this machine at most `parallel` run at once (one, when latency is measured: timings must not share
cores). A job that SLURM times out or preempts is requeued by submitit (the job is Checkpointable) and
measures only what its first run did not store. Ctrl-C or SIGTERM while waiting cancels the jobs.

This module imports submitit, the `cluster` extra; archlab imports it only for this launcher.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import submitit

from ..common import UsageError
from .options import Measure, Policy
from .points import Point, run_points
from .run import Tally, interrupt_signal, one_line
from .store import Store


class PointsJob(submitit.helpers.Checkpointable):
    """run_points as a submitit job that SLURM may requeue (submitit calls `checkpoint` on a timeout
    or a preemption, which resubmits the same points)."""

    def __call__(self, points: list[Point], store_root: str, measure: Measure,
                 policy: Policy) -> dict:
        return run_points(points, store_root, measure, policy)


def job_parameters(params: dict, measure: Measure) -> dict:
    """What each job asks for: a name, an hour, and for latency a whole device (one GPU, or as many
    cores as its threads); `params` (the user's) win."""
    out = {"name": "archlab-sweep", "timeout_min": 60}
    if str(measure.device).startswith("cuda"):
        out["gpus_per_node"] = 1
    elif measure.threads:
        out["cpus_per_task"] = int(measure.threads)
    return {**out, **params}


def launch(todo: list[Point], store: Store, measure: Measure, policy: Policy, *, folder: Path,
           cluster: str | None, params: dict, points_per_job: int, log) -> dict:
    """Measure `todo` as submitit jobs; returns what they did: "tally" and "pairs" (Tally), "keys"
    (label -> the key the job stored it under), "unfinished" (label -> why a job ended without
    it), "jobs" (how many), "cluster" (where they ran)."""
    started = time.perf_counter()
    latency = measure.latency
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    try:
        executor.update_parameters(**job_parameters(params, measure))
    except (NameError, AssertionError, TypeError, ValueError) as exc:
        raise UsageError(f"submitit parameters: {one_line(exc).split(': ', 1)[-1]}") from None
    size = 1 if latency else max(1, points_per_job)
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    slurm = executor.cluster == "slurm"
    threads = int(measure.threads or 1)
    parallel = 1 if latency else max(1, (os.cpu_count() or 1) // threads)
    each = "one point, a whole device" if latency else f"up to {size} points"
    log(f"{len(chunks)} job(s) of {len(todo)} point(s) ({each} each) on submitit's "
        f"{executor.cluster} executor; logs in {folder}")
    done = {"tally": Tally(), "pairs": Tally() if latency else None, "keys": {}, "unfinished": {},
            "jobs": len(chunks), "cluster": executor.cluster}
    root = str(store.root.resolve())
    queue, running = list(chunks), {}
    try:
        while queue or running:
            if slurm and queue:  # one array: SLURM schedules it (--slurm-array-parallelism)
                jobs = executor.map_array(PointsJob(), queue, [root] * len(queue),
                                          [measure] * len(queue), [policy] * len(queue))
                running.update(zip(jobs, queue))
                queue = []
            while queue and len(running) < parallel:
                chunk = queue.pop(0)
                running[executor.submit(PointsJob(), chunk, root, measure, policy)] = chunk
            for job in [j for j in running if j.done()]:
                chunk = running.pop(job)
                _collect(job, chunk, done, log, finished=done["jobs"] - len(queue) - len(running))
            time.sleep(10 if slurm else 0.5)  # SLURM's queue is asked at most this often
    except KeyboardInterrupt as exc:
        for job in running:
            job.cancel(check=False)
        log(f"cancelled {len(running)} running job(s); {len(queue)} not submitted")
        done["tally"].interrupted = interrupt_signal(exc)
    done["tally"].seconds = time.perf_counter() - started
    return done


def _collect(job, chunk: list[Point], done: dict, log, finished: int) -> None:
    """Count a finished job's points in the run's tallies; a job that died, or was cut short, leaves
    its points unfinished with the reason (unless the store holds them: the parent reads it)."""
    try:
        got = job.result()
    except Exception as exc:  # killed, out of memory, timed out for good: its points are missing
        why = one_line(exc)
        for p in chunk:
            done["unfinished"][p.label] = f"job {job.job_id} ended without finishing it ({why})"
        log(f"job {job.job_id} ({finished}/{done['jobs']}) failed: {why}")
        return
    tally = done["tally"]
    tally.measured += got["points"]["measured"]
    tally.reused += got["points"]["reused"]
    tally.failures.update(got["points"]["failures"])
    if got["pairs"] is not None and done["pairs"] is not None:
        done["pairs"].merge(Tally(measured=got["pairs"]["measured"], reused=got["pairs"]["reused"],
                                  failures=got["pairs"]["failures"]))
    done["keys"].update(got["keys"])
    if got["interrupted"] is not None:
        for p in chunk:
            done["unfinished"][p.label] = (f"job {job.job_id} was stopped "
                                           f"({signal.Signals(got['interrupted']).name}) first")
    log(f"job {job.job_id} ({finished}/{done['jobs']}) on {got['host']}: measured "
        f"{len(got['points']['measured'])}, reused {len(got['points']['reused'])}"
        + (f", failed {len(got['points']['failures'])}" if got["points"]["failures"] else ""))

