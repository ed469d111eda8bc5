"""Comparisons of several reports: what each design choice costs against the model it changes.

A Comparison holds Reports (plus the models that failed to measure) and, for each model, the base
it is compared against: by default the spec's own `base` (a variant against the model it was
derived from), or one model for all (`archlab compare models A B C` compares against A).
Latency is compared by the paired ratio model/base (the two timed side by side in one run, see
archlab.profile.timing.paired): the latency delta. Each model's own median (timed on its own, minutes
apart) is kept in the table for reference.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..common import UsageError, write_atomic
from ..results import Report, load_report, read_json
from .compare_text import comparison_table
from .units import is_missing

SCHEMA = "archlab.comparison/1"

# whole-model figures read from each report's totals (plus `macs[NAME]` for every other
# convention the reports were counted under)
METRICS = ("params", "macs", "latency_ms", "latency_p10_ms", "latency_p90_ms", "peak_bytes",
           "macs_backward", "macs_step", "saved_bytes")  # the last three: training profiles
PAIRED = {"latency_ratio": "ratio", "latency_ratio_p10": "ratio_p10", "latency_ratio_p90": "ratio_p90",
          "latency_ratio_n": "n", "latency_ratio_reliable": "reliable",
          "latency_ratio_warnings": "warnings"}  # frame column -> key of a paired result
UNASKED = ("latency_ms", "latency_p10_ms", "latency_p90_ms")  # shown only when latency was asked
DELTA = ("params", "macs", "latency_ms", "peak_bytes", "macs_backward", "saved_bytes")  # + macs[NAME]


class Comparison:
    """Reports side by side, each with deltas (absolute and %) against its base."""

    def __init__(self, reports, base=None, failures: dict[str, str] | None = None,
                 paired: dict[str, dict] | None = None,
                 paired_runtimes: dict[str, dict[str, dict]] | None = None,
                 latency: bool = True):
        self.reports: dict[str, Report] = {}
        # False for a comparison asked without latency (--no-latency): a report reused from the
        # store may carry a latency of an earlier run, timed under other conditions than its
        # neighbours'; the table shows what this request measured, so none is shown
        self.latency = latency
        # model -> its paired timing with its base: ratio, ratio_p10, ratio_p90, n, ... or, when
        # there is none, {"base": ..., "error" | "skipped": why}
        self.paired: dict[str, dict] = dict(paired or {})
        # deploy runtime -> model -> its paired timing with its base, both under that runtime
        self.paired_runtimes: dict[str, dict[str, dict]] = dict(paired_runtimes or {})
        for r in (reports.values() if isinstance(reports, dict) else reports):
            self.reports[r.model] = r
        self.failures = dict(failures or {})
        names = list(self.reports) + [n for n in self.failures if n not in self.reports]
        self.order = names
        self.bases: dict[str, str | None] = {}
        for n in names:
            if isinstance(base, dict):
                b = base.get(n)
            elif isinstance(base, str):
                b = base
            else:
                r = self.reports.get(n)
                b = (r.spec or {}).get("base") if r is not None else None
            if b is not None and b not in names:
                if isinstance(base, str):
                    raise UsageError(f"base {b!r} is not among the compared models ({', '.join(names)})")
                b = None  # its base was not measured: shown without deltas
            self.bases[n] = b if b != n else None

    # ---------------------------------------------------------------- facts about the run
    def settings(self) -> dict:
        """Input, batch, device and threads shared by the reports ("mixed" when they differ)."""
        def one(get):
            vals = {json.dumps(get(r), sort_keys=True) for r in self.reports.values()}
            return json.loads(vals.pop()) if len(vals) == 1 else "mixed"
        if not self.reports:
            return {}
        return {"input": one(lambda r: r.input.get("shape")), "batch": one(lambda r: r.input.get("batch")),
                "device": one(lambda r: r.env.get("device")),
                "device_name": one(lambda r: r.env.get("device_name")),
                "threads": one(lambda r: r.env.get("threads"))}

    def is_of_variants(self) -> bool:
        """True when every model is compared with the model its spec derives from (a comparison
        of design choices), False for models compared with a chosen one."""
        def spec_base(n):
            r = self.reports.get(n)
            return (r.spec or {}).get("base") if r is not None else None
        return all(b is None or b == spec_base(n) for n, b in self.bases.items())

    def what(self) -> str:
        """What was compared, in words, for titles."""
        if self.is_of_variants():
            return "what each design choice costs against the model it changes"
        bases = sorted({b for b in self.bases.values() if b})
        return f"each model against {', '.join(bases) or 'nothing'}"

    def title(self) -> str:
        s = self.settings()
        shape = s.get("input")
        shape = "x".join(str(v) for v in shape) if isinstance(shape, list) else shape
        return (f"input {shape}, batch {s.get('batch')}, {s.get('device')}"
                f" ({s.get('device_name')}), {s.get('threads')} threads")

    def groups(self) -> list[str]:
        """Display order: each base followed by its variants, in the order given."""
        out = []
        for n in self.order:
            b = self.bases[n]
            head = b if b is not None else n
            if head not in out:
                out.append(head)
        rows = []
        for head in out:
            rows.append(head)
            rows += [n for n in self.order if self.bases[n] == head and n != head]
        return rows + [n for n in self.order if n not in rows]

    # ---------------------------------------------------------------- tables
    def conventions(self) -> dict[str, dict]:
        """Every convention other than archlab's that every compared report was counted under,
        with its table entry (in the order the reports list them). One that only some carry (a
        report reused from a profile that counted more) would be a column filled for those alone:
        it is left out, and partial_conventions() says for whom it was counted."""
        out = {}
        for r in self.reports.values():
            out.update({c: e for c, e in r.conventions.items() if c != "archlab" and c not in out})
        return {c: e for c, e in out.items()
                if all(c in r.conventions for r in self.reports.values())}

    def partial_conventions(self) -> dict[str, list[str]]:
        """convention -> the models counted under it, for the conventions only some compared
        reports were counted under (left out of the table, see conventions())."""
        common = self.conventions()
        out: dict[str, list[str]] = {}
        for n, r in self.reports.items():
            for c in r.conventions:
                if c != "archlab" and c not in common:
                    out.setdefault(c, []).append(n)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per model: costs (macs[NAME] per convention), then each cost's change against
        the base, absolute and %."""
        recs = []
        counts = [f"macs[{c}]" for c in self.conventions()]
        for n in self.groups():
            r = self.reports.get(n)
            spec = (r.spec if r is not None else {}) or {}
            rec = {"model": n, "base": self.bases[n], "change": spec.get("change") or "",
                   "family": spec.get("family"), "reference": not spec.get("base")}
            for k in METRICS:
                rec[k] = r.totals.get(k) if r is not None else None
                if k in UNASKED and not self.latency:
                    rec[k] = None
            for k in counts:
                rec[k] = r.count(k[5:-1]) if r is not None else None
            rec["latency_spread_pct"] = _spread(rec)
            timing = (r.timing if r is not None and self.latency else {}) or {}
            rec["latency_reliable"] = timing.get("reliable")
            rec["latency_warnings"] = "; ".join(timing.get("warnings") or []) or None
            rec.update(self._paired_columns(n, self.paired.get(n)))
            for rt, by_model in self.paired_runtimes.items():
                cols = self._paired_columns(n, by_model.get(n), f"[{rt}]")
                cols[f"latency_ratio_valid[{rt}]"] = (by_model.get(n) or {}).get("valid")
                rec.update(cols)
            rec["error"] = self.failures.get(n) or _report_error(r)
            recs.append(rec)
        df = pd.DataFrame.from_records(recs)
        idx = {n: i for i, n in enumerate(df["model"])}
        for k in (*DELTA, *counts):
            d, dp = [], []
            for n in df["model"]:
                b = self.bases[n]
                v, bv = df.at[idx[n], k], (df.at[idx[b], k] if b is not None else None)
                if b is None or is_missing(v) or is_missing(bv):
                    d.append(None)
                    dp.append(None)
                else:
                    d.append(v - bv)
                    dp.append(100.0 * (v - bv) / bv if bv else math.nan)
            df[f"d_{k}"] = d
            df[f"d_{k}_pct"] = dp
        return df

    def _paired_columns(self, name: str, got: dict | None, suffix: str = "") -> dict:
        """The columns of a paired ratio against the current base (a result paired with another
        base is stale); `suffix` names the runtime ('[compile]'), '' for eager."""
        got = got or {}
        if got.get("base") != self.bases.get(name) or not self.latency:
            got = {}
        cols = {col: got.get(key) for col, key in PAIRED.items()}
        r = cols["latency_ratio"]
        cols["d_latency_paired_pct"] = None if is_missing(r) else 100.0 * (r - 1.0)
        cols["latency_ratio_spread_pct"] = _ratio_spread(cols)
        cols["latency_ratio_warnings"] = "; ".join(cols["latency_ratio_warnings"] or []) or None
        cols["latency_ratio_note"] = got.get("error") or got.get("skipped") or got.get("note")
        return {f"{k}{suffix}": v for k, v in cols.items()}

    def to_markdown(self) -> str:
        return comparison_table(self)

    def to_latex(self, **kwargs) -> str:
        """The comparison as a booktabs LaTeX table for a paper, the conventions named in its
        caption (archlab.report.latex.comparison_latex: caption=, label=)."""
        from .latex import comparison_latex

        return comparison_latex(self, **kwargs)

    def module_deltas(self) -> dict[str, dict]:
        """model -> its per-module paired deltas against its current base (timed side by side
        with it, archlab.profile.timing.module_pairs): modules, groups, explaining, only_variant,
        only_base; models paired without them are left out."""
        return {n: got["module_deltas"] for n, got in self.paired.items()
                if isinstance(got, dict) and got.get("module_deltas")
                and got.get("base") == self.bases.get(n)}

    # ---------------------------------------------------------------- files
    def to_dict(self) -> dict:
        paired = {n: {k: v for k, v in got.items() if k != "module_deltas"}
                  if isinstance(got, dict) else got for n, got in self.paired.items()}
        return {"schema": SCHEMA, "models": self.order, "base": self.bases,
                "failures": self.failures, "settings": self.settings(), "paired": paired,
                "module_deltas": self.module_deltas(), "paired_runtimes": self.paired_runtimes,
                "latency": self.latency}

    def save(self, path: str | Path, report_paths: dict[str, str]) -> Path:
        """comparison.json: the models, their bases, failures, and where each report lies
        (relative to the file)."""
        data = self.to_dict()
        data["reports"] = report_paths
        return write_atomic(path, json.dumps(data, indent=1))


def _spread(rec) -> float | None:
    """p10–p90 spread of the latency, in % of its median."""
    med, lo, hi = rec.get("latency_ms"), rec.get("latency_p10_ms"), rec.get("latency_p90_ms")
    if any(is_missing(v) for v in (med, lo, hi)) or not med:
        return None
    return 100.0 * (hi - lo) / med


def _ratio_spread(cols) -> float | None:
    """p10–p90 spread of a paired ratio, in % of the ratio."""
    r, lo, hi = cols.get("latency_ratio"), cols.get("latency_ratio_p10"), cols.get("latency_ratio_p90")
    if any(is_missing(v) for v in (r, lo, hi)) or not r:
        return None
    return 100.0 * (hi - lo) / r


def _report_error(r: Report | None) -> str | None:
    if r is None:
        return None
    errs = [n[len("error:"):].strip() for n in r.notes if n.startswith("error:")]
    return "; ".join(errs) or None


def load_comparison(path: str | Path) -> Comparison:
    """Read a comparison folder (or its comparison.json) written by `archlab compare`."""
    path = Path(path)
    if path.is_dir():
        path = path / "comparison.json"
    data = read_json(path, SCHEMA, "comparison", "archlab compare")
    where = data.get("reports", {})
    listed = data.get("models", [])
    order = [n for n in listed if n in where] + [n for n in where if n not in listed]
    reports = [load_report(path.parent / where[n]) for n in order]
    base = {n: b for n, b in data.get("base", {}).items()}
    paired = dict(data.get("paired") or {})
    for n, deltas in (data.get("module_deltas") or {}).items():  # kept apart in the file
        if isinstance(paired.get(n), dict):
            paired[n] = {**paired[n], "module_deltas": deltas}
    return Comparison(reports, base=base, failures=data.get("failures"), paired=paired,
                      paired_runtimes=data.get("paired_runtimes"),
                      latency=data.get("latency", True))
