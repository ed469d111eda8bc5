"""Why a module costs what it costs, in words: the roofline (archlab.profile.roofline) of the top
modules by time (summary.md's "Why"), and one sentence per design choice in a comparison.

A module's own operators (self cost: inclusive minus its children's, as the top-modules table
ranks them) are held against the machine's measured ceilings by the one rule of
results.roofline_terms: compute-, memory- or overhead-bound, and how close its measured self time
comes to what the ceilings allow (efficiency)."""
from __future__ import annotations

import pandas as pd

from ...results import BOUNDS, Report, roofline_terms
from ..tables import children, top_modules
from ..units import fixed, is_missing, ms, si


def machine_line(machine: dict) -> str:
    return (f"peak {si(machine['peak_macs_per_s'])}MAC/s, memory bandwidth "
            f"{si(machine['mem_bytes_per_s'])}B/s, operator floor "
            f"{fixed(1e6 * machine['op_floor_s'])} µs ({machine['threads']} threads, "
            f"{machine['dtype']})")


def self_roofline(report: Report, backward: bool = False) -> pd.DataFrame:
    """Per module with a roofline: its own operators' MACs, bytes, operators, self time, and their
    attainable time, bound and efficiency (clipped to 1). Empty without env["machine"]."""
    machine = report.env.get("machine")
    sfx = "_backward" if backward else ""
    kids = children(report)
    recs = []
    for r in report.rows:
        own = {}
        for k in ("macs" + sfx, "bytes_moved" + sfx, "ops" + sfx):
            v = getattr(r, k)
            own[k[: -len(sfx)] if sfx else k] = (None if is_missing(v) else
                                                 v - sum(getattr(c, k) or 0
                                                         for c in kids.get(r.name, [])))
        terms = roofline_terms(own["macs"], own["bytes_moved"], own["ops"], machine)
        if terms is None:
            continue
        took = getattr(r, "self_ms" + sfx)
        eff = terms["attainable_ms"] / took if not is_missing(took) and took > 0 else None
        recs.append({"module": r.name, "type": r.type, **own, "self_ms": took,
                     "attainable_ms": terms["attainable_ms"], "bound": terms["bound"],
                     "efficiency": None if eff is None else min(1.0, eff),
                     "intensity": own["macs"] / own["bytes_moved"] if own["bytes_moved"] else None})
    return pd.DataFrame.from_records(recs)


def why_lines(report: Report, n: int = 10) -> list[str]:
    """summary.md's "Why" section: the ceilings, then the top modules by self time with their
    bound and efficiency, and the share of operator time under each bound."""
    machine = report.env.get("machine")
    out = ["## Why: what bounds each module", ""]
    if not machine or report.row("").bytes_moved is None:
        return out + ["No roofline in this report (made before archlab measured one, or not "
                      "counted).", ""]
    out += [f"The machine's ceilings, measured by archlab: {machine_line(machine)}; "
            f"{machine['how']}.", "",
            "Each module's own operators (its children's excluded) against them: attainable = "
            "max(MACs / peak, bytes moved / bandwidth) + operators × floor; **bound** is the "
            "largest of the three terms (compute, memory, overhead: too many small operators), "
            "**efficiency** = attainable / measured self time (1 = at the ceiling).", ""]
    for backward in ((False, True) if report.rows[0].bytes_moved_backward is not None
                     else (False,)):
        out += _table(report, n, backward)
    return out


def _table(report: Report, n: int, backward: bool) -> list[str]:
    df = self_roofline(report, backward)
    if df.empty:
        return []
    timed = df["self_ms"].notna().any()
    by = "self_ms" if timed else "attainable_ms"
    df = df[df[by] > 0].sort_values(by, ascending=False)
    title = "backward operators" if backward else ("top modules by self time" if timed else
                                                  "top modules by attainable time (not timed)")
    out = [f"**{title}**", "",
           "| module | type | self ms | attainable ms | efficiency | bound | MACs | bytes moved "
           "| operators | MACs/byte |", "|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    if not backward and timed:  # rank as the top-modules table does
        order = [m for m in top_modules(report, n=n)["module"] if m in set(df["module"])]
        df = df.set_index("module").loc[order].reset_index()
    for _, r in df.head(n).iterrows():
        eff, inten = fixed(r["efficiency"], 2), fixed(r["intensity"])
        out.append(f"| `{r['module'] or '(model itself)'}` | {r['type']} | {ms(r['self_ms'])} | "
                   f"{ms(r['attainable_ms'])} | {eff} | {r['bound']} | {si(r['macs'])} | "
                   f"{si(r['bytes_moved'])}B | {int(r['ops'])} | {inten} |")
    if timed:
        t = df[df["self_ms"].notna()]
        share = {b: t.loc[t["bound"] == b, "self_ms"].sum() for b in ("compute", "memory",
                                                                       "overhead")}
        total = sum(share.values()) or 1.0
        out += ["", "Of the " + ("backward " if backward else "") + "operator time, "
                + ", ".join(f"{100 * v / total:.0f} % is in {b}-bound modules"
                            for b, v in share.items()) + "."]
    return out + [""]


def design_sentences(comp) -> list[str]:
    """One sentence per design choice (a model with a base) of a comparison: its change in MACs,
    operators and bytes moved, the bound of the variant as a whole and which term of the
    attainable time moved most, and its change in time (paired with the base when timed so)."""
    df = comp.to_frame().set_index("model")
    out = []
    for name, base in comp.bases.items():
        v, b = comp.reports.get(name), comp.reports.get(base) if base else None
        if v is None or b is None:
            continue
        rv, rb = v.row(""), b.row("")
        machine = b.env.get("machine")
        tv = roofline_terms(rv.macs, rv.bytes_moved, rv.ops, machine)
        tb = roofline_terms(rb.macs, rb.bytes_moved, rb.ops, machine)
        if tv is None or tb is None:
            out.append(f"- **{name}** vs {base}: no roofline (a report without one).")
            continue
        moved = max(BOUNDS,
                    key=lambda k: abs(tv[f"{k}_ms"] - tb[f"{k}_ms"]))
        dterm = tv[f"{moved}_ms"] - tb[f"{moved}_ms"]
        driver = (f"the {moved} term changing most ({dterm * 1e3:+.0f} µs of attainable)" if dterm
                  else "no term of the attainable time changing")
        row = df.loc[name]
        time_pct, how = row.get("d_latency_paired_pct"), "paired with the base"
        if is_missing(time_pct):
            time_pct, how = row.get("d_latency_ms_pct"), "medians timed apart"
        took = "time not measured" if is_missing(time_pct) else f"{_pct(time_pct)} time ({how})"
        change = (v.spec or {}).get("change")
        out.append(f"- **{name}**{f' ({change})' if change else ''} vs {base}: "
                   f"{_pct(row.get('d_macs_pct'))} MACs, {rv.ops - rb.ops:+,} operators, "
                   f"{_pct(_rel(rv.bytes_moved, rb.bytes_moved))} bytes moved; "
                   f"{tv['bound']}-bound, {driver}: {took}.")
    return out


def comparison_why_lines(comp) -> list[str]:
    lines = design_sentences(comp)
    if not lines:
        return []
    return ["", "## Why", "", "Each design choice against its base, held against the base's "
            "measured ceilings (archlab.profile.roofline): attainable = max(MACs / peak, bytes / "
            "bandwidth) + operators × floor; the bound is the variant's largest term.", ""] + lines


def _rel(v, b):
    return None if is_missing(v) or is_missing(b) or not b else 100.0 * (v - b) / b


def _pct(x) -> str:
    return "n/a" if is_missing(x) else f"{x:+.1f} %".replace("-", "−")
