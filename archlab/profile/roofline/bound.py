"""Per module: what bounds it and how close it runs to that bound.

From the operators the module ran (moved.py: bytes and operator count, inclusive like its MACs)
and the machine's measured ceilings (ceilings.py), the rule of results.roofline_terms gives the
attainable time, max(MACs / peak, bytes / bandwidth) + ops x floor, and the bound, its largest
term: compute, memory, or overhead (too many small operators: ShuffleNet V2's fragmentation). The
efficiency is that attainable time over the time measured (latency_ms: a leaf's self time; a
container's own and its children's operators, the same operators its attainable covers), in
(0, 1]: a module measured faster than its ceilings allow is clipped to 1 and said so in a note.
"""
from __future__ import annotations

from ...results import Report, roofline_terms
from ..core.hooks import ModuleTable

_CLIPPED = ("roofline: efficiency clipped to 1 for {n} module(s){which} whose {what} time was "
            "under what the ceilings allow (operators cheaper than the floor's 1-element add, e.g. "
            "views, or ceilings measured under load)")


def _inclusive(table: ModuleTable, exclusive: list) -> list:
    total = table.inclusive(exclusive)
    total[0] += exclusive[len(table)]  # operators run outside every module: the model's own
    return total


def fill(report: Report, table: ModuleTable, traffic, *, backward: bool = False) -> int:
    """Set the roofline fields of every row measured (its MACs known) from `traffic` (a
    moved.Traffic) and report.env["machine"]; returns how many efficiencies were clipped."""
    moved, ops = _inclusive(table, traffic.bytes), _inclusive(table, traffic.ops)
    sfx = "_backward" if backward else ""
    for i, row in enumerate(report.rows):
        if (row.macs_backward if backward else row.macs) is not None:
            setattr(row, "bytes_moved" + sfx, moved[i])
            setattr(row, "ops" + sfx, ops[i])
    return _bound(report, backward)


def _bound(report: Report, backward: bool) -> int:
    """Attainable time, bound and efficiency of every row from its counts, bytes and operators
    against report.env["machine"] (a note names the rows clipped); how many were clipped."""
    machine = report.env.get("machine")
    sfx = "_backward" if backward else ""
    clipped = []
    for row in report.rows:
        macs = row.macs_backward if backward else row.macs
        moved, ops = getattr(row, "bytes_moved" + sfx), getattr(row, "ops" + sfx)
        if macs is None or moved is None:  # not measured (a module a failure interrupted)
            continue
        if not backward:
            row.intensity = macs / moved if moved else None
        terms = roofline_terms(macs, moved, ops, machine)
        if terms is None:
            continue
        setattr(row, "attainable_ms" + sfx, terms["attainable_ms"])
        setattr(row, "bound" + sfx, terms["bound"])
        took = row.latency_ms_backward if backward else row.latency_ms
        if took and took > 0:
            eff = terms["attainable_ms"] / took
            if eff > 1:
                clipped.append(row.name or "(model)")
            setattr(row, "efficiency" + sfx, min(1.0, eff))
    if clipped:
        which = f": {', '.join(clipped[:5])}{' …' if len(clipped) > 5 else ''}"
        report.notes.append(_CLIPPED.format(n=len(clipped), which=which,
                                            what="backward" if backward else "measured"))
    return len(clipped)


def refill(report: Report, machine: dict) -> None:
    """The roofline of a report whose counts were measured at other settings (another thread
    count) against the ceilings of the run that timed it now: each row's bytes and operators kept,
    its attainable time, bound, efficiency and the method's note made again."""
    report.env["machine"] = machine
    report.notes = [n for n in report.notes if not n.startswith("roofline: ")]
    _bound(report, backward=False)
    back = any(r.bytes_moved_backward is not None for r in report.rows)
    if back:
        _bound(report, backward=True)
    report.notes.append(_method(machine, back))


def annotate(report: Report, result: dict, table: ModuleTable) -> None:
    """The roofline of every row of `report` from the passes' `result` (the counting recorder's
    traffic, and a training profile's backward recorder's), with a note on the method."""
    machine = report.env.get("machine")
    rec = result.get("count")
    traffic = getattr(rec, "traffic", None)
    if traffic is None or not machine:
        return
    fill(report, table, traffic)
    got = result.get("train") or {}
    back = getattr(got.get("backward"), "traffic", None)
    if back is not None:
        fill(report, table, back, backward=True)
    report.notes.append(_method(machine, back is not None))


def _method(machine: dict, backward: bool) -> str:
    return (
        f"roofline: attainable_ms = max(MACs / {machine['peak_macs_per_s'] / 1e9:.3g} GMAC/s, "
        f"bytes_moved / {machine['mem_bytes_per_s'] / 1e9:.3g} GB/s) + ops x "
        f"{1e6 * machine['op_floor_s']:.3g} us, the machine's ceilings measured at "
        f"{machine['threads']} threads, {machine['dtype']} ({machine['how']}); bound = the largest "
        "term; efficiency = attainable_ms / latency_ms"
        + (" (the backward's: / latency_ms_backward)" if backward else "")
        + "; bytes_moved counts each operator's tensor inputs and outputs once (views move "
        "nothing, an in-place write counts)")
