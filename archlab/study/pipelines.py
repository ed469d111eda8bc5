"""The pipelines the CLI and the notebooks call: profile one model into a folder, compare several.

Each checks everything first (plan.py), holds its output folder (a lock; another model's report or
another comparison is replaced only when asked), reuses what the store holds and measures the rest
(run.py), and writes the report files — also when the run was cut short, so that nothing finished
is lost: a profile interrupted during timing is written (and stored) marked incomplete, and the
next run completes it; a comparison interrupted midway tables what finished.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..profile.count.conventions import RECORDER_CONVENTIONS, check_conventions
from ..profile.core.env import check_device
from ..results import Report, merge_latency
from .planning import Job, OutputFolder, plan
from .run import Item, Tally, log_line, run
from .store import DEFAULT_ROOT, Store, safe_name

# comparisons count under the recorder's own conventions (fvcore and thop trace slowly)
COMPARE_CONVENTIONS = RECORDER_CONVENTIONS


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


def _profile_item(job: Job, store: Store, opts: dict, *, fresh: bool, keep_noisy: bool,
                  log, runtimes=()) -> Item:
    """How one model is looked up, measured (completing a stored incomplete profile when there is
    one; then under each deploy runtime in `runtimes`, beyond eager), and stored."""
    from ..profile import profile_module

    latency, conventions = opts["latency"], opts["conventions"]

    def measure(progress) -> Report:
        common = dict(batch=job.batch, model_name=job.name, spec=job.spec, progress=progress,
                      on_error="record", **opts)
        partial = None if fresh else store.partial(job.name, job.key)
        counted = partial is not None and partial.totals.get("macs") is not None and \
            set(conventions) <= set(partial.env.get("conventions") or ())
        if counted and latency:
            log(f"{job.name}: completing the stored incomplete profile (timing only)")
            timed = profile_module(job.model, job.shape, **{**common, "count": False})
            report = merge_latency(partial, timed)
        else:
            report = profile_module(job.model, job.shape, **common)
        loaded = getattr(job.model, "loaded_checkpoint", None)
        if loaded is not None and loaded.note not in report.notes:
            report.notes.append(loaded.note)
        if len(runtimes) > 1:
            from ..profile.deploy.runtimes import profile_runtimes

            progress(f"deploy runtimes ({', '.join(runtimes[1:])})")
            budget = {"budget_s": opts["budget_s"]} if "budget_s" in opts else {}
            report.runtimes = profile_runtimes(job.model, job.shape, runtimes, batch=job.batch,
                                               device=opts["device"], threads=opts["threads"],
                                               **budget)
        if report.timing.get("reliable") is False:
            log(f"{job.name}: ⚠ latency not reliable: " + "; ".join(report.timing["warnings"]))
        return report

    def save(report: Report) -> None:  # an incomplete report too: the next run completes it
        store.save(report, job.key, latency=latency)

    return Item(job.name,
                lookup=lambda: None if fresh else store.lookup(
                    job.name, job.key, latency=latency, conventions=conventions,
                    keep_noisy=keep_noisy),
                measure=measure, save=save, save_partial=save, problem=_report_problem)


def _report_problem(report: Report) -> str | None:
    errors = [n[len("error:"):].strip() for n in report.notes if n.startswith("error:")]
    if not errors:
        return None
    nothing = report.totals.get("macs") is None and report.totals.get("latency_ms") is None
    return ("failed: " if nothing else "measured with errors: ") + "; ".join(errors)


def _options(conventions, latency, device, threads, extra, budget_s=None, mode="eval",
             sgd=False) -> dict:
    """The profiler's options of a pipeline; a training profile (mode="train") counts under the
    recorder's own conventions unless told otherwise."""
    check_device(device)
    if mode not in ("eval", "train"):
        raise ValueError(f"--mode must be eval or train; got {mode!r}")
    if sgd and mode != "train":
        raise ValueError("--sgd adds an optimizer step to a training step: it needs --mode train")
    if mode == "train" and not conventions:
        conventions = RECORDER_CONVENTIONS
    timing = {} if budget_s is None else {"budget_s": budget_s}
    train = {"mode": "train", "sgd": sgd} if mode == "train" else {}
    return {"conventions": check_conventions(conventions), "latency": latency, "device": device,
            "threads": threads, **timing, **train, **extra}


def profile_to(name: str, out: str | Path | None = None, *, input_size=None, batch: int = 1,
               device: str = "cpu", threads: int | None = None, conventions=None,
               latency: bool = True, cuda_graph: bool = False, depth: int = 2, checkpoint=None,
               fresh: bool = False, keep_noisy: bool = False, replace: bool = False,
               force: bool = False, store: str | Path = DEFAULT_ROOT, progress: bool = True,
               budget_s: float | None = None, runtimes=("eager",), mode: str = "eval",
               sgd: bool = False, log=log_line) -> Outcome:
    """Profile one registered model (name grammar included) into `out` (default reports/NAME):
    report.json, modules.csv, summary.md and plots; reused from the store when it holds it.
    `checkpoint`: weights to load first (see archlab.load_checkpoint); `budget_s`: seconds of
    whole-model timing (archlab.profile.profile_module's default when None); `runtimes`: deploy
    runtimes to measure beside eager (archlab.profile.deploy.runtimes); `mode="train"`: a training step
    (forward and backward per module, memory saved for backward; `sgd` adds an optimizer step)."""
    from ..profile import DEFAULT_CONVENTIONS
    from ..report.files import write_report

    if depth < 0:
        raise ValueError(f"--depth must be 0 or more; got {depth}")
    if cuda_graph and not str(device).startswith("cuda"):
        raise ValueError("--cuda-graph needs --device cuda")
    extra = {"cuda_graph": True} if cuda_graph else {}
    opts = _options(conventions or (DEFAULT_CONVENTIONS if mode == "eval" else None), latency,
                    device, threads, extra, budget_s, mode, sgd)
    runtimes = _runtimes(runtimes, latency)
    key_options = {**extra, **({"runtimes": runtimes} if len(runtimes) > 1 else {}),
                   **_train_key(opts)}
    [job] = plan([name], input_size=input_size, batch=batch, device=device, threads=threads,
                 options=key_options or None, force=force, checkpoint=checkpoint, say=log)
    folder = Path(out) if out else Path("reports") / safe_name(job.name)
    outcome = Outcome(folder)
    with OutputFolder(folder, kind="report", names=[job.name], replace=replace):
        item = _profile_item(job, Store(store), opts, fresh=fresh, keep_noisy=keep_noisy, log=log,
                             runtimes=runtimes)
        outcome.tally = run([item], fresh=fresh, progress=progress, log=log, reraise=(ValueError,))
        outcome.result = outcome.tally.results.get(job.name)
        if outcome.result is not None and not _measured_nothing(outcome.result):
            outcome.paths = write_report(outcome.result, folder, depth=depth)
    return outcome


def _train_key(opts: dict) -> dict:
    """What a training profile adds to a measurement's key (nothing for inference)."""
    return {k: opts[k] for k in ("mode", "sgd") if k in opts}


def _runtimes(runtimes, latency: bool) -> list[str]:
    """The deploy runtimes asked for, checked (eager first); they are timings: not without latency."""
    from ..profile.deploy.runtimes import check_runtimes

    names = check_runtimes(runtimes or ("eager",))
    if len(names) > 1 and not latency:
        raise ValueError("--runtime times the model: it cannot go with --no-latency")
    return names


def _measured_nothing(report: Report) -> bool:
    root = report.rows[0] if report.rows else None
    return root is None or (root.macs is None and report.totals.get("latency_ms") is None)
