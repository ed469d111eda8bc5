"""A comparison as a markdown table: every cost with its change against the base, the conventions'
counts in their published units, the separately timed medians (marked as such), and the paired
latency ratios — under eager PyTorch and under each deploy runtime compared."""
from __future__ import annotations

from .units import fixed, is_missing, mib, ms, pct, ratio, si, unreliable

PAIRED_HEADER = "latency vs base (paired)"
MEDIAN_HEADER = "latency ms, timed separately (p10–p90)"


def comparison_table(comp) -> str:
    df = comp.to_frame()
    convs = comp.conventions()
    heads = [f"{c} {e['published']}" if e.get("published") else f"MACs[{c}]"
             for c, e in convs.items()]
    training = df["macs_backward"].notna().any()
    if training:  # a comparison of training steps: what the backward costs and keeps
        heads += ["MACs backward", "saved for backward MiB"]
    timed = comp.latency  # asked without latency: no latency columns, not even reused ones
    if timed:
        heads += [MEDIAN_HEADER.replace("latency", "step time") if training else MEDIAN_HEADER,
                  PAIRED_HEADER] + [f"latency vs base under {rt} (paired)"
                                    for rt in comp.paired_runtimes]
    lines = ["| model | base | what changed | params | MACs[archlab] | " + "".join(
             f"{h} | " for h in heads) + "peak MiB |", "|---|---|---|" + "---:|" * (len(heads) + 3)]
    for _, row in df.iterrows():
        base, err = _text(row["base"]), _text(row["error"])
        lat = ms(row["latency_ms"])
        if not is_missing(row["latency_p10_ms"]):
            lat += f" ({ms(row['latency_p10_ms'])}–{ms(row['latency_p90_ms'])})"
        if unreliable(row["latency_reliable"]):
            lat += " ⚠"
        cells = [f"**{row['model']}**" if base is None else row["model"],
                 base or "—", (_text(row["change"]) or "—").replace("|", "\\|"),
                 _cell(row, "params", si), _cell(row, "macs", si),
                 *[_cell(row, f"macs[{c}]", _in_unit(e)) for c, e in convs.items()],
                 *([_cell(row, "macs_backward", si), _cell(row, "saved_bytes", mib)]
                   if training else []),
                 *([lat + _delta_text(row, "latency_ms", ms), paired_cell(row),
                    *[paired_cell(row, f"[{rt}]") for rt in comp.paired_runtimes]] if timed else []),
                 _cell(row, "peak_bytes", mib)]
        if err:
            cells[2] += f" — **failed:** {err}"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + notes_below(comp)) + "\n"


def notes_below(comp) -> list[str]:
    """What the table leaves out, and why: latency not asked for; a convention only some models
    were counted under (a report reused from a profile that counted more)."""
    out = []
    if not comp.latency:
        out.append("Latency not measured (--no-latency): none is shown, not even a latency a "
                   "reused report holds from an earlier run.")
    for c, models in comp.partial_conventions().items():
        out.append(f"MACs[{c}] left out: counted for {', '.join(models)} only (reused from a run "
                   f"that counted it); name it in --convention to count it for every model.")
    return [""] + out if out else []


def paired_text(row, suffix: str = "") -> str:
    """'1.12× (1.05–1.19)': a paired ratio with its p10–p90, '' when there is none."""
    r = row.get(f"latency_ratio{suffix}")
    if is_missing(r):
        return ""
    text = ratio(r)
    lo, hi = row.get(f"latency_ratio_p10{suffix}"), row.get(f"latency_ratio_p90{suffix}")
    if not is_missing(lo):
        text += f" ({ratio(lo, times=False)}–{ratio(hi, times=False)})"
    return text


def paired_cell(row, suffix: str = "") -> str:
    """The table cell of a paired ratio: ⚠ when it is not reliable, 'not valid' when a runtime
    computed something else than eager, n/a with the reason when there is none."""
    if _text(row["base"]) is None:
        return "—"
    text = paired_text(row, suffix)
    if not text:
        note = _text(row.get(f"latency_ratio_note{suffix}"))
        return "n/a" + (f" ({note})".replace("|", "\\|") if note else "")
    if row.get(f"latency_ratio_valid{suffix}") is False:
        text += " not valid"
    return text + (" ⚠" if unreliable(row.get(f"latency_ratio_reliable{suffix}")) else "")


def _in_unit(entry: dict):
    """How a count is shown in its convention's published unit (3 significant digits)."""
    div = entry.get("divisor", 1)
    return si if div == 1 or not entry.get("published") else (lambda v: fixed(v / div))


def _text(v) -> str | None:
    return None if is_missing(v) or v == "" else str(v)


def _cell(row, k, fmt) -> str:
    v = row[k]
    text = "n/a" if is_missing(v) else fmt(v)
    return text + _delta_text(row, k, fmt)


def _delta_text(row, k, fmt) -> str:
    d, dp = row.get(f"d_{k}"), row.get(f"d_{k}_pct")
    if is_missing(d):
        return ""
    sign = "-" if d < 0 else "+"
    return f"<br>{sign}{fmt(abs(d))} ({pct(dp, signed=True)})"


def module_delta_lines(comp, top: int = 5) -> list[str]:
    """Per variant, the groups of modules that explain its change against the base, timed side by
    side with it: 'stages.1.body.*.context: +3.2 ms (+41 %, 0.9–1.3×)' (delta of the medians, its
    share of the base's time, the per-round ratio's p10–p90), and the modules only one side has."""
    lines = []
    for model, md in comp.module_deltas().items():
        groups = {g["group"]: g for g in md.get("groups", [])}
        whole = next((m for m in md.get("modules", []) if m["module"] == ""), None)
        head = f"- **{model}** vs {comp.bases.get(model)}"
        if whole is not None:
            head += f" (operator time {_delta(whole)})"
        lines.append(head + ":")
        shown = [groups[g] for g in md.get("explaining", [])[:top] if g in groups]
        lines += [f"  - `{g['group']}` ×{g['members']}: {_delta(g)}" for g in shown] or [
            "  - no group of shared modules carries a tenth of the change"]
        for side, key in (("variant", "only_variant"), ("base", "only_base")):
            only = md.get(key) or []
            if only:
                lines.append(f"  - only in the {side}: {len(only)} module(s), e.g. `{only[0]}`")
    return lines


def _delta(d) -> str:
    base, change = d["base_ms"], d["delta_ms"]
    share = f", {pct(100 * change / base, signed=True)}" if base else ""
    return (f"{'+' if change >= 0 else '-'}{ms(abs(change))} ms{share}, "
            f"{ratio(d['ratio_p10'], times=False)}–{ratio(d['ratio_p90'])}")
