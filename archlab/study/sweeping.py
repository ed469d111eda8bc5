"""sweep: every combination of settings of one model, profiled, in one comparison with a Pareto plot.

The grid (grid.py) gives the points; each is planned on its own, so an invalid combination becomes a
row that says why. The points the store lacks are measured by a launcher — in this process, or as
submitit jobs (cluster.py) — both through points.py into the one store; then everything is read back
from the store under the keys it was measured with and tabled: a Comparison with each point against
the base at its input and batch (paired latency where latency was measured), table.csv extended with
the grid's values and the Pareto front, pareto.png, and sweep.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..common import UsageError

from .comparing import _write
from .grid import Point, default_folder, parse_batches, parse_grid, parse_inputs, points as grid_points
from .options import Measure, Policy, settle
from .pipelines import COMPARE_CONVENTIONS, Outcome, held
from .planning import Builds
from .points import measure_points, plan_points
from .store import Store, pair_key

LAUNCHERS = ("local", "submitit", "submitit-local")
LARGE_SWEEP = 100  # points: a larger grid is confirmed before it starts
# rough costs for the estimate said before a sweep starts: counting one point, one module's row on
# disk (kept twice: in the store and in the folder's models/)
COUNT_S, ROW_BYTES = 2.0, 1400
CLUSTER_EXTRA = "the submitit launcher needs the cluster extra: pip install -e '.[cluster]'"


@dataclass
class SweepOutcome(Outcome):
    """An Outcome (folder, Comparison, files, tallies) with what a sweep adds: the table with the
    grid's columns and the front, the points that are invalid (label -> why), and the launcher."""

    table: object = None
    invalid: dict = field(default_factory=dict)
    launcher: str = "local"
    jobs: int = 0


def sweep(base: str, grid, out: str | Path | None = None, *, inputs=None, batches=(1,),
          launcher: str = "local", cluster: str | None = None, executor: dict | None = None,
          points_per_job: int = 8, jobs_folder: str | Path | None = None,
          measure: Measure | None = None, policy: Policy | None = None,
          confirm: Callable[[str], bool] | None = None, **options) -> SweepOutcome:
    """Profile every combination of `grid` ({field: values} or ["FIELD=V1,V2", ...]) derived from
    `base`, at every input in `inputs` ("HxW,HxW", a list, or None for the base's own) and batch in
    `batches`, each against `base` at the same input and batch; write `out` (default
    reports/sweep/BASE-DIGEST). `launcher`: "local" (in process), "submitit" (submitit.AutoExecutor:
    SLURM where it exists, else local processes) or "submitit-local"; `cluster` forces an executor
    ("local", "slurm"); `executor`: parameters for its update_parameters (slurm_partition,
    gpus_per_node, timeout_min, ...); `points_per_job`: counting-only points per job. The options
    are a Measure and a Policy (archlab.study.options), whole or by their fields, as for compare
    (runtimes: eager only); `mode="train"`: every point profiled for a training step (then not
    paired: each step time is its own). `confirm(text)`: asked, with the size and an estimate of
    time and disk, before a grid of more than LARGE_SWEEP points starts (False: not started)."""
    from ..models import get_spec

    measure, policy = settle("sweep", measure, policy, options,
                             conventions=COMPARE_CONVENTIONS, per_module=False)
    if launcher not in LAUNCHERS:
        raise UsageError(f"unknown launcher {launcher!r}; use one of {', '.join(LAUNCHERS)}")
    if len(measure.runtimes) > 1:
        raise UsageError("a sweep times eager PyTorch only; compare the points you pick with "
                         "`archlab compare models ... --runtime`")
    if points_per_job < 1:
        raise UsageError(f"--points-per-job must be at least 1; got {points_per_job}")
    remote = launcher != "local"
    if remote and cluster is None and launcher == "submitit-local":
        cluster = "local"
    if remote:  # the device is the jobs', not this machine's; they measure with the key's threads
        _need_submitit()
        import torch

        measure = dataclasses.replace(measure, threads=measure.threads or (executor or {}).get(
            "cpus_per_task") or torch.get_num_threads())
    else:
        measure.check_here()
    spec = get_spec(base)
    grid = parse_grid(spec, grid)
    shapes, batches = parse_inputs(inputs, spec.input_size), parse_batches(batches)
    everything = grid_points(spec, grid, shapes, batches)
    # on a cluster the memory a point needs is checked by its job, on the device that runs it
    builds = None if remote else Builds()  # each spec built once here (a cluster's jobs: there)
    jobs, invalid = plan_points(everything, measure, force=policy.force or remote, builds=builds,
                                log=policy.log)
    if not jobs:
        raise UsageError(f"no point of the sweep can be built: {next(iter(invalid.items()))[1]}")
    for label, why in invalid.items():
        policy.log(f"{label}: invalid: {why}")
    base = jobs.get(everything[0].label)
    _announce(len(jobs), spec, measure, policy.log, confirm,
              builds.models.get(builds.key(base)) if builds and base else None)
    folder = Path(out) if out else default_folder(spec.name, grid, shapes, batches)
    outcome = SweepOutcome(folder, invalid=invalid, launcher=launcher)
    with held(outcome, "comparison", [p.label for p in everything], policy) as (st, policy):
        keys, unfinished = {label: job.key for label, job in jobs.items()}, {}
        valid = [p for p in everything if p.label in jobs]
        if remote:
            unfinished = _submit(outcome, valid, jobs, keys, st, measure, policy, cluster=cluster,
                                 params=dict(executor or {}), points_per_job=points_per_job,
                                 jobs_folder=Path(jobs_folder or folder / "jobs"))
        else:
            outcome.tally, outcome.pairs = measure_points(valid, jobs, st, measure, policy,
                                                          builds=builds)
        comp = _table(everything, keys, st, measure, invalid, outcome, unfinished)
        outcome.result = comp
        outcome.paths = _write(comp, folder)
        outcome.table, paths = _write_sweep(comp, everything, grid, folder, outcome)
        outcome.paths.update(paths)
    return outcome


def _submit(outcome, valid, jobs, keys, store: Store, measure: Measure, policy: Policy, *,
            cluster, params, points_per_job, jobs_folder: Path) -> dict:
    """Submit the points the store lacks as submitit jobs and wait for them; count what they did in
    `outcome`, update `keys` with the keys the jobs stored under, and return label -> why for the
    points a job ended without."""
    from . import cluster as submitting

    todo = [p for p in valid if policy.fresh or not _stored(p, jobs, store, measure, policy)]
    outcome.tally.reused = [p.label for p in valid if p not in todo]
    if outcome.tally.reused:
        policy.log(f"reusing {len(outcome.tally.reused)} stored point(s) with the same key")
    for job in jobs.values():
        job.model = None  # built to check it; the jobs build their own
    if not todo:
        return {}
    done = submitting.launch(todo, store, measure, policy, folder=jobs_folder, cluster=cluster,
                             params=params, points_per_job=points_per_job, log=policy.log)
    outcome.tally.merge(done["tally"])
    outcome.pairs, outcome.jobs = done["pairs"], done["jobs"]
    keys.update(done["keys"])
    return done["unfinished"]


def _announce(n: int, spec, measure: Measure, log, confirm, model=None) -> None:
    """Say how large the sweep is (`n` points that can be built), and about how long and how much
    disk it takes, before anything is measured; a large one goes ahead only when `confirm`
    agrees. `model`: the base, when planning kept its build."""
    import torch

    from ..profile.timing.paired import PAIR_BUDGET_S

    if model is None:
        with torch.device("meta"):  # the module count of the base: the size of a report
            model = spec.build()
    rows = sum(1 for _ in model.modules())
    seconds = COUNT_S
    if measure.latency:
        seconds += measure.budget_s or 3.0
        if measure.pairs_wanted:
            seconds += measure.budget_s or PAIR_BUDGET_S
    text = (f"{n} points: about {n * seconds / 60:.0f} min if none is stored yet "
            f"(~{seconds:.0f} s each here) and {n * rows * ROW_BYTES / 2**20:.0f} MiB of reports")
    log(text)
    if n > LARGE_SWEEP and confirm is not None and not confirm(text):
        raise UsageError(f"the sweep of {n} points was not started; pass --yes to start it "
                         "without asking")


def _need_submitit() -> None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise UsageError(CLUSTER_EXTRA) from None


def _stored(p: Point, jobs, store: Store, measure: Measure, policy: Policy) -> bool:
    """The point (and, with latency, its pairing with the base) is in the store already."""
    job = jobs[p.label]
    if store.lookup(job.name, job.key, keep_noisy=policy.keep_noisy) is None:
        return False
    if not measure.pairs_wanted or p.base not in jobs:
        return True
    key = pair_key(job.key, jobs[p.base].key)
    return store.lookup_pair(job.name, p.base_name, key, policy.keep_noisy) is not None


def _table(everything, keys, store: Store, measure: Measure, invalid: dict, outcome,
           unfinished: dict):
    """The Comparison of what the store holds now for every point, read under the keys it was
    measured with; a point it lacks is a row with the reason (invalid, failed, or its job ended)."""
    from ..report.compare import Comparison

    reports, paired, failures = {}, {}, dict(invalid)
    for p in everything:
        key = keys.get(p.label)
        found = None if key is None else store.lookup(p.name, key, keep_noisy=True)
        if found is None:
            why = outcome.tally.failures.get(p.label) or unfinished.get(p.label)
            if why and p.label not in invalid:
                failures[p.label] = why
                outcome.tally.failures.setdefault(p.label, why)
            continue
        reports[p.label] = dataclasses.replace(found, model=p.label)
        if measure.pairs_wanted and p.base is not None and keys.get(p.base) is not None:
            got = store.lookup_pair(p.name, p.base_name, pair_key(key, keys[p.base]), True)
            if got is not None:
                paired[p.label] = {**got, "base": p.base}
            elif outcome.pairs is not None and p.label in outcome.pairs.failures:
                paired[p.label] = {"base": p.base, "error": outcome.pairs.failures[p.label]}
    return Comparison(list(reports.values()), base={p.label: p.base for p in everything},
                      failures=failures, paired=paired, latency=measure.latency)


def _write_sweep(comp, everything, grid, folder: Path, outcome) -> tuple[object, dict]:
    """table.csv with the grid's columns and the Pareto front, pareto.png, sweep.md."""
    from ..report.plots import save
    from ..report.plots.sweep import plot_pareto
    from ..report.sweep_table import sweep_frame, sweep_markdown
    from .grid import show

    base = everything[0].name
    rows = {p.label: {"point": p.name, "input": "x".join(map(str, p.shape[1:])), "batch": p.batch,
                      **p.coords} for p in everything}
    front_by = ["input", "batch"]  # input sizes buy accuracy the plot cannot show: one front each
    df = sweep_frame(comp, rows, front_by=front_by, label_columns=list(grid))
    df.to_csv(folder / "table.csv", index=False)
    what = f"sweep of {base}: " + " × ".join(grid)
    plot = plot_pareto(df, comp, what=what, color_by="input", front_by=front_by)
    paths = {"pareto.png": save(plot, folder / "pareto.png")}
    inputs = sorted({r["input"] for r in rows.values()}, key=lambda t: -int(t.split("x")[0]))
    about = ["Grid: " + "; ".join(f"{k} in {{{', '.join(show(v) for v in vs)}}}"
                                  for k, vs in grid.items())
             + f" (labels in the plot: {' · '.join(grid)}); inputs {', '.join(inputs)}; batch "
             + ", ".join(map(str, sorted({p.batch for p in everything}))) + ".",
             f"{len(everything)} points, each against {base} at its input and batch: "
             f"{len(comp.reports)} tabled, {len(outcome.invalid)} invalid; launcher "
             f"{outcome.launcher}" + (f" ({outcome.jobs} jobs)" if outcome.jobs else "")
             + f"; {outcome.tally.line()}."]
    text = sweep_markdown(df, comp, title=f"Sweep of {base}", about=about, invalid=outcome.invalid,
                          plots=list(paths), front_by=front_by)
    (folder / "sweep.md").write_text(text)
    paths["sweep.md"] = folder / "sweep.md"
    return df, paths
