"""The pipelines the CLI and the notebooks call: profile one model into a folder, compare several.

Each checks everything first (plan.py), holds its output folder (a lock; another model's report or
another comparison is replaced only when asked), reuses what the store holds and measures the rest
(run.py), and writes the report files — also when the run was cut short, so that nothing finished
is lost: a profile interrupted during timing is written (and stored) marked incomplete, and the
next run completes it; a comparison interrupted midway tables what finished.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..common import UsageError
from ..profile.count.conventions import DEFAULT_CONVENTIONS
from ..results import ProfileInterrupted, Report, merge_latency
from .options import Measure, Policy, settle
from .folder import OutputFolder
from .planning import Job, plan
from .run import Item, Tally, run
from .store import Store, safe_name

# comparisons and sweeps count under every convention: fvcore's and thop's rules run in the one
# counting pass (profile/count/fvcore_rules.py, thop_rules.py), so every model gets every column
COMPARE_CONVENTIONS = DEFAULT_CONVENTIONS


@dataclass
class Outcome:
    """What a pipeline did: the folder it wrote, the files, the run's tally (measured, reused,
    failed, interrupted), and its result (a Report, or a Comparison)."""

    folder: Path
    result: object = None
    paths: dict = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    pairs: Tally | None = None

    @property
    def interrupted(self) -> int | None:
        return self.tally.interrupted or (self.pairs.interrupted if self.pairs else None)

    @property
    def ok(self) -> bool:
        return self.tally.ok and (self.pairs is None or self.pairs.ok)


def profile_item(job: Job, store: Store, measure: Measure, policy: Policy,
                 builds=None) -> Item:
    """How one model is looked up, measured (completing a stored incomplete profile when there is
    one, or timing only when the store holds its counts; then under each deploy runtime of the
    measure beyond eager), and stored. `builds`: a planning.Builds the model's build is shared in."""
    from ..profile import profile_module

    log = policy.log

    def measure_it(progress) -> Report:
        model = job.built(builds)
        common = dict(batch=job.batch, model_name=job.name, spec=job.spec, progress=progress,
                      on_error="record", **measure.profiler_args())
        report = _resumed(None if policy.fresh else store.partial(job.name, job.key), measure)
        counted = None if report is not None or policy.fresh or not measure.latency or \
            measure.mode != "eval" else store.counted(job.name, job.key)
        if counted is not None:
            log(f"{job.name}: reusing the counts stored at {counted.env.get('threads')} thread(s), "
                "measuring the timing only")
            report = _recounted(counted, profile_module(model, job.shape, **common,
                                                        count=False))
        elif report is None:
            report = profile_module(model, job.shape, **common)
        elif measure.latency and report.totals.get("latency_ms") is None:
            log(f"{job.name}: completing the stored incomplete profile (timing only)")
            report = merge_latency(report, profile_module(model, job.shape, **common,
                                                          count=False))
        elif len(measure.runtimes) > 1:
            log(f"{job.name}: completing the stored incomplete profile (deploy runtimes only)")
        loaded = getattr(model, "loaded_checkpoint", None)
        if loaded is not None and loaded.note not in report.notes:
            report.notes.append(loaded.note)
        if len(measure.runtimes) > 1 and not report.runtimes:
            _add_runtimes(report, model, job, measure, progress)
        if report.timing.get("reliable") is False:
            log(f"{job.name}: ⚠ latency not reliable: " + "; ".join(report.timing["warnings"]))
        return report

    def save(report: Report) -> None:  # an incomplete report too: the next run completes it
        store.save(report, job.key)

    return Item(job.name,
                lookup=lambda: None if policy.fresh else store.lookup(
                    job.name, job.key, keep_noisy=policy.keep_noisy, since=policy.resume_since),
                measure=measure_it, save=save, save_partial=save, problem=_report_problem)


def _resumed(partial: Report | None, measure: Measure) -> Report | None:
    """A stored incomplete profile to complete: counted under every convention asked for (then only
    what is missing is measured), else None (measured from the start)."""
    if partial is None or partial.totals.get("macs") is None or \
            not set(measure.conventions) <= set(partial.env.get("conventions") or ()):
        return None
    partial.complete = True
    partial.notes = [n for n in partial.notes if not n.startswith("incomplete:")]
    return partial


def _recounted(counted: Report, timed: Report) -> Report:
    """Stored counts with a new timing, the roofline refilled against the timing run's ceilings
    (they depend on its thread count; the counts and bytes do not)."""
    from ..profile.roofline.bound import refill

    report = merge_latency(counted, timed)
    report.runtimes = timed.runtimes
    if timed.env.get("machine"):
        refill(report, timed.env["machine"])
    return report


def _add_runtimes(report: Report, model, job: Job, measure: Measure, progress) -> None:
    """The deploy runtimes beside eager; Ctrl-C while they are prepared or timed keeps the counts
    and the eager timing as an incomplete report, which the next run completes."""
    from ..profile.deploy.runtimes import profile_runtimes
    from .run import interrupt_signal

    progress(f"deploy runtimes ({', '.join(measure.runtimes[1:])})")
    budget = {} if measure.budget_s is None else {"budget_s": measure.budget_s}
    try:
        report.runtimes = profile_runtimes(model, job.shape, measure.runtimes, batch=job.batch,
                                           device=measure.device, threads=measure.threads,
                                           **budget)
    except KeyboardInterrupt as exc:
        report.complete = False
        report.notes.append("incomplete: interrupted while preparing or timing the deploy "
                            "runtimes; the same command completes it")
        raise ProfileInterrupted(report, interrupt_signal(exc)) from exc


def _report_problem(report: Report) -> str | None:
    errors = [n[len("error:"):].strip() for n in report.notes if n.startswith("error:")]
    if not errors:
        return None
    nothing = report.totals.get("macs") is None and report.totals.get("latency_ms") is None
    return ("failed: " if nothing else "measured with errors: ") + "; ".join(errors)


@contextmanager
def held(outcome: Outcome, kind: str, names, policy: Policy):
    """The run's output folder and store, both checked writable before anything is measured, and
    its policy (resuming an unfinished run of the same request in that folder); the folder is
    marked finished unless the run was interrupted."""
    store = Store(policy.store)
    store.check_writable()
    with OutputFolder(outcome.folder, kind=kind, names=names, replace=policy.replace) as folder:
        yield store, dataclasses.replace(policy, resume_since=folder.resumed_since)
        if outcome.interrupted is None:
            folder.finish()


def profile_to(name: str, out: str | Path | None = None, *, input_size=None, batch: int = 1,
               depth: int = 2, measure: Measure | None = None, policy: Policy | None = None,
               **options) -> Outcome:
    """Profile one registered model (name grammar included) into `out` (default reports/NAME):
    report.json, modules.csv, summary.md and plots; reused from the store when it holds it.
    The options are a Measure and a Policy (archlab.study.options), given whole or by their fields:
    e.g. `conventions`, `latency`, `device`, `threads`, `budget_s` (seconds of timing),
    `checkpoint` (weights to load first), `runtimes` (deploy runtimes beside eager),
    `mode="train"` (a training step; `sgd` adds an optimizer step); `fresh`, `keep_noisy`,
    `replace`, `force`, `store`, `progress`, `log`."""
    from ..profile import DEFAULT_CONVENTIONS
    from ..report.files import write_report

    if depth < 0:
        raise UsageError(f"--depth must be 0 or more; got {depth}")
    measure, policy = settle("profile_to", measure, policy, options,
                             conventions=DEFAULT_CONVENTIONS, per_module=True)
    measure.check_here()
    [job] = plan([name], measure, input_size=input_size, batch=batch, force=policy.force,
                 say=policy.log)
    folder = Path(out) if out else Path("reports") / safe_name(job.name)
    outcome = Outcome(folder)
    with held(outcome, "report", [job.name], policy) as (store, policy):
        item = profile_item(job, store, measure, policy)
        outcome.tally = run([item], fresh=policy.fresh, progress=policy.progress, log=policy.log,
                            reraise=(ValueError,))
        outcome.result = outcome.tally.results.get(job.name)
        if outcome.result is not None and not _measured_nothing(outcome.result):
            outcome.paths = write_report(outcome.result, folder, depth=depth)
    return outcome


def _measured_nothing(report: Report) -> bool:
    root = report.rows[0] if report.rows else None
    return root is None or (root.macs is None and report.totals.get("latency_ms") is None)
