"""compare: several models (or every design-choice variant) measured, each paired with its base, in one
table with plots.

Every model is profiled (or reused from the store) for whole-model numbers under the archlab and
paper conventions; then each model that has a base is timed side by side with it (paired latency,
also stored and reused). The comparison folder holds table.md, table.csv, comparison.json, the
plots and a copy of every model's report under models/, so it reads on its own.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from ..common import write_atomic
from ..report.compare import Comparison
from .options import Measure, Policy, settle
from .pipelines import COMPARE_CONVENTIONS, Outcome, held, profile_item
from .planning import Job, plan
from .run import run
from .store import Store, safe_name


def default_folder(names: list[str], variants: bool, bases=None) -> Path:
    """reports/variants (every variant), reports/variants/BASE+BASE (some bases), or
    reports/compare/A+B+C (a set of models): a different set never lands in the same folder."""
    if variants:
        return Path("reports") / "variants" / ("+".join(map(safe_name, bases)) if bases else "all")
    label = "+".join(safe_name(n) for n in names)
    if len(label) > 80:  # many models: the first few and a digest of all
        label = "+".join(safe_name(n) for n in names[:3]) + \
            f"+{len(names) - 3}more-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
    return Path("reports") / "compare" / label


def compare(names, out: str | Path | None = None, *, base: str | None = None,
            bases: list[str] | None = None, input_size=None, batch: int = 1,
            measure: Measure | None = None, policy: Policy | None = None,
            **options) -> Outcome:
    """Compare models: `names` a list (each against `base`, default the first) or "variants" (every
    registered variant against its own base; `bases` limits them to these bases' variants).
    The options are a Measure and a Policy (archlab.study.options), whole or by their fields, as for
    profile_to: `budget_s` is then the seconds of timing per model and per pair; `runtimes`: deploy
    runtimes under which each model is also paired with its base, both prepared for the runtime
    (archlab.profile.deploy.pairs): does a design choice's cost survive? `mode="train"`: every
    model profiled for a training step (no paired timing then: the step times of the table are
    each model's own)."""
    from ..models import get_spec, list_variants

    measure, policy = settle("compare", measure, policy, options,
                             conventions=COMPARE_CONVENTIONS, per_module=False)
    measure.check_here()
    variants = names == "variants"
    if variants:
        names, base = list_variants(bases), None
    else:
        names = [get_spec(n).name for n in names]
        base = get_spec(base).name if base else names[0]
        names = list(dict.fromkeys([base, *names]))
    profiled = dataclasses.replace(measure, runtimes=("eager",))  # runtimes are for the pairs
    jobs = plan(names, profiled, input_size=input_size, batch=batch, force=policy.force,
                say=policy.log)
    folder = Path(out) if out else default_folder([j.name for j in jobs], variants, bases)
    outcome = Outcome(folder)
    with held(outcome, "comparison", [j.name for j in jobs], policy) as (st, policy):
        items = [profile_item(j, st, profiled, policy) for j in jobs]
        outcome.tally = run(items, fresh=policy.fresh, progress=policy.progress, log=policy.log)
        reports = [r for r in outcome.tally.results.values() if r.complete]
        comp = Comparison(reports, base=base, failures={
            n: e for n, e in outcome.tally.failures.items() if n not in outcome.tally.results},
            latency=measure.latency)
        for runtime in measure.runtimes if measure.pairs_wanted else ():
            if outcome.interrupted is not None:
                break
            tally = _pair(comp, {j.name: j for j in jobs}, st, measure, policy, runtime=runtime)
            if runtime == "eager":
                outcome.pairs, comp.paired = tally, tally.results
            else:
                comp.paired_runtimes[runtime] = tally.results
                outcome.pairs.merge(tally, f" under {runtime}")
        outcome.result = comp
        outcome.paths = _write(comp, folder)
    return outcome


def _write(comp: Comparison, folder: Path) -> dict:
    """The comparison's files, with a copy of each model's report under models/ (the folder reads
    on its own)."""
    from ..report.files import write_comparison

    where = {}
    for name, report in comp.reports.items():
        where[name] = write_atomic(folder / "models" / safe_name(name) / "report.json",
                                   report.to_json())
    return write_comparison(comp, folder, where)


def _pair(comp: Comparison, jobs: dict[str, Job], store: Store, measure: Measure,
          policy: Policy, *, runtime: str):
    """Time each model side by side with its base (both measured with latency, same input), both
    run under `runtime` ("eager": as they are)."""
    from .points import pair_item

    items, skipped = [], {}
    for model in comp.order:
        b = comp.bases.get(model)
        if b is None or not (_timed(comp, model) and _timed(comp, b)):
            continue  # a failed model or base already says why in the table
        mj, bj = jobs[model], jobs[b]
        if (mj.shape, mj.batch) != (bj.shape, bj.batch):
            skipped[model] = {"base": b, "skipped": f"no paired ratio: input {_shape(mj)} differs "
                                                    f"from the base's {_shape(bj)}"}
            continue
        items.append(pair_item(model, mj, bj, store, measure, policy, runtime=runtime,
                               modules=True))  # which modules explain the change
    tally = run(items, fresh=policy.fresh, progress=policy.progress,
                unit="pair" if runtime == "eager" else f"pair under {runtime}", log=policy.log)
    for name, why in tally.failures.items():
        tally.results[name] = {"base": comp.bases.get(name), "error": why}
    tally.results.update(skipped)
    return tally


def _timed(comp: Comparison, name: str) -> bool:
    r = comp.reports.get(name)
    return r is not None and r.totals.get("latency_ms") is not None


def _shape(job: Job) -> str:
    return "x".join(map(str, job.shape)) + f", batch {job.batch}"
