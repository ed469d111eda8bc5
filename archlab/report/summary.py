"""summary.md: one model's profile as a page a person can read without the tool.

It says what was measured (model, spec, input, environment), what it costs under each counting
convention and why those disagree, where the time and the MACs go, what was not counted, and how
the numbers were measured (method and spread), with the plots embedded.
"""
from __future__ import annotations

import pandas as pd

from ..results import Report
from .display import display_frame, render, runtime_frame
from .latency import latency_split, method_lines, scaled_note
from .tables import (conventions_of, is_training, latency_warning, module_frame, stage_frame,
                     top_modules, totals_frame)
from .units import is_missing, mib, ms, pct, si
from .roofline.words import why_lines

PLOT_TITLES = {"stages.png": "Cost by stage", "top_modules.png": "Top modules: latency vs MACs",
               "macs_vs_latency.png": "MACs vs latency per module",
               "runtimes.png": "Latency by deploy runtime",
               "training.png": "A training step by stage: memory saved for backward, step time",
               "roofline.png": "Roofline per module: what bounds each, against measured ceilings"}


def summary_markdown(report: Report, plots=(), depth: int = 2) -> str:
    t, env, spec = report.totals, report.env, report.spec or {}
    shape = report.input_text("×")
    batch = report.input.get("batch", 1)
    out = [f"# {report.model}: profile", ""]
    if not report.complete:
        why = next((n for n in report.notes if n.startswith("incomplete:")), "incomplete")
        out += [f"> **⚠ {why}**: the numbers below that are n/a were not measured.", ""]
    flag = latency_warning(report)
    if flag:
        out += [f"> **{flag}**. Re-measure on a quiet machine before quoting its latency.", ""]
    out += _model_lines(report, spec) + [""]
    out += [f"Input {shape}, batch {batch}, on {env.get('device')} ({env.get('device_name', '?')}), "
            f"{env.get('threads', '?')} threads, {env.get('dtype', '?')}, memory format "
            f"{env.get('memory_format', '?')}.", ""]

    out += ["## Totals", ""]
    rows = [("parameters", si(t.get("params")) + f" ({_int(t.get('params'))})")]
    rows.append(("MACs [archlab], per batch", si(t.get("macs")) + f" ({_int(t.get('macs'))})"))
    rows.append(("FLOPs [archlab] (2 per multiply-add, plus elementwise ops)", si(t.get("flops"))))
    if not is_missing(t.get("latency_ms")):
        rows.append(("latency, whole model (median)" + (" ⚠" if flag else ""),
                     f"{ms(t['latency_ms'])} ms (p10 {ms(t.get('latency_p10_ms'))}, p90 "
                     f"{ms(t.get('latency_p90_ms'))}, IQR {ms(t.get('latency_iqr_ms'))}, "
                     f"n = {t.get('latency_n', '?')})"))
        labels = {"operators": "of which operators (every module's self time)",
                  "forward operators": "of which forward operators (modules' self time)",
                  "backward operators": "of which backward operators (modules' backward self time)",
                  "optimizer operators": "of which the optimizer step's operators",
                  "framework overhead": "of which framework overhead (Python, dispatch, between "
                                        "operators)"}
        rows += [(labels[label], f"{ms(v)} ms") for label, v in latency_split(report)]
        if scaled_note(report):
            rows.append(("⚠ operator times scaled", scaled_note(report)))
    else:
        rows.append(("latency", "not measured (--no-latency)"))
    if is_training(report):
        rows += [("mode", "a training step: forward, the sum of the outputs, backward"
                  + (", SGD step" if report.timing.get("sgd") else "")),
                 ("MACs [archlab], forward / backward / step",
                  f"{si(t.get('macs_forward'))} / {si(t.get('macs_backward'))} / "
                  f"{si(t.get('macs_step'))}"),
                 ("memory saved for backward", f"{mib(t.get('saved_bytes'))} MiB"),
                 ("peak memory of the step", f"{mib(t.get('peak_bytes'))} MiB")]
        bwd = {k: v for k, v in t.items() if k.startswith("macs_backward[")}
        rows += [(f"backward {k[len('macs_backward'):]}", si(v)) for k, v in bwd.items()]
    else:
        rows.append(("peak memory", f"{mib(t.get('peak_bytes'))} MiB"))
    rows.append(("activations produced", f"{mib(t.get('act_bytes'))} MiB"))
    out += ["| quantity | value |", "|---|---:|"] + [f"| {a} | {b} |" for a, b in rows] + [""]

    out += ["## Operation counts under each convention", "",
            f"The same forward pass, counted by {len(conventions_of(report))} rules, per sample. "
            "Published figures are in the unit their source prints (2^20 for the Lite-/Dite-HRNet "
            "READMEs, 2^30 for HRNet's, 1e9 for torchvision's).", ""]
    tf = totals_frame(report)
    out += ["| convention | count per sample | as published | what it counts |", "|---|---:|---:|---|"]
    for _, r in tf.iterrows():
        out.append(f"| {r['convention']} | {_int(r['count_per_sample'])} | {r['published']} "
                   f"| {r['rule']} |")
    out += ["", "### Why they differ", "",
            "Each rule sees a different set of operators. Against archlab's count (every executed "
            "operator), per batch: every operator category where a rule counts differently, both "
            "counts, and what each counted there (operators, or module types for module-hook "
            "rules); the rows add up to the whole gap.", ""] + why_they_differ(report) + [""]

    if report.runtimes:
        out += ["## Deploy runtimes", ""] + runtime_lines(report) + [""]
    out += ["## Where the cost is", "", "### By stage", ""]
    sf = stage_frame(report)
    out += [render(_stage_display(sf, is_training(report)), "md")]
    out += ["### Top modules", "",
            "Self cost: a module's own operations, its children's subtracted, so the rows add up "
            "to the model. Self latency is the time of the module's own operators, each timed "
            "where it runs; a container that runs none costs nothing. Shares of latency are of the "
            "end-to-end time.", ""]
    for by, label in (("latency_ms", "by self time"), ("macs", "by MACs [archlab]")):
        if by == "latency_ms" and is_missing(report.row("").self_ms):
            continue
        tm = top_modules(report, by=by, n=10)
        out += [f"**{label}**", "", "| module | type | self ms | latency % | MACs | MACs % |",
                "|---|---|---:|---:|---:|---:|"]
        for _, r in tm.iterrows():
            out.append(f"| `{r['module'] or '(model itself)'}` | {r['type']} | {ms(r['latency_ms'])} | "
                       f"{pct(r['latency_share_pct'])} | {si(r['macs'])} | {pct(r['macs_share_pct'])} |")
        out.append("")
    out += [f"### Module tree (depth {depth})", "",
            render(display_frame(module_frame(report, depth), report.model, batch=batch,
                                 conventions=report.conventions, marked=True), "md"),
            "All modules at every depth, with every convention's count: `modules.csv`.", ""]
    out += why_lines(report)

    out += ["## Coverage", ""] + coverage_lines(report) + [""]
    out += ["## Method", ""] + method_lines(report) + [""]
    out += ["## Environment", "", "| | |", "|---|---|"]
    for k in ("device", "device_name", "threads", "dtype", "memory_format", "torch", "archlab",
              "fvcore", "thop", "python", "platform", "cudnn_benchmark", "tf32", "date"):
        if k in env:
            out.append(f"| {k} | {env[k]} |")
    out.append("")
    if report.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    if plots:
        out += ["## Plots", ""]
        for p in plots:
            out += [f"### {PLOT_TITLES.get(p, p)}", "", f"![{PLOT_TITLES.get(p, p)}]({p})", ""]
    return "\n".join(out).rstrip() + "\n"


def _model_lines(report, spec) -> list[str]:
    if not spec:
        return [f"A plain `nn.Module` ({report.row('').type}); no archlab spec."]
    lines = [f"Family **{spec.get('family', '?')}**."]
    if spec.get("base"):
        change = spec.get("change") or "(no description)"
        lines[0] += f" A design-choice variant of `{spec['base']}`: {change}."
    elif spec.get("change"):
        lines[0] += f" {spec['change']}"
    rep = spec.get("reported") or []
    if rep:
        lines.append("Reported by the authors (not measured here): "
                     + ", ".join(f"{k} = {v}" for k, v in rep) + ".")
    return lines


def _stage_display(sf, training: bool = False):
    df = pd.DataFrame({"stage": sf["stage"], "type": sf["type"], "params": [si(v) for v in sf["params"]],
                       "params %": [pct(v) for v in sf["params_share_pct"]],
                       "MACs[archlab]": [si(v) for v in sf["macs"]],
                       "MACs %": [pct(v) for v in sf["macs_share_pct"]],
                       "latency ms": [ms(v) for v in sf["latency_ms"]],
                       "latency %": [pct(v) for v in sf["latency_ms_share_pct"]]})
    if training:  # the step's time (forward + backward) and what each stage keeps for backward
        df = df.rename(columns={"latency ms": "step ms", "latency %": "step %"})
        df["saved MiB"] = [mib(v) for v in sf["saved_bytes"]]
        df["saved %"] = [pct(v) for v in sf["saved_bytes_share_pct"]]
    return df


def why_they_differ(report: Report) -> list[str]:
    """Per convention that differs from archlab: a table of the categories that make up its gap
    (computed when it was counted, from the ops it saw), and what it counted as 0."""
    cov = report.coverage or {}
    gaps, skipped = cov.get("gaps") or {}, cov.get("skipped") or {}
    if not gaps and not skipped:
        return ["Every convention computed agrees with archlab, category by category."
                if len(conventions_of(report)) > 1 else "Only one convention was computed."]
    lines = []
    for c, gap in gaps.items():
        lines += [f"**{c}**: {_signed(gap['gap'])} against archlab.", "",
                  f"| category | {c} | archlab | difference | {c} counts | archlab counts |",
                  "|---|---:|---:|---:|---|---|"]
        for p in gap["parts"]:
            lines.append(f"| {p['category']} | {si(p['count'])} | {si(p['archlab'])} | "
                         f"{_signed(p['count'] - p['archlab'])} | {p['counted']} | "
                         f"{p['archlab_counted']} |")
        lines.append(f"| **all** | | | **{_signed(gap['gap'])}** | | |")
        lines.append("")
    for c, ops in skipped.items():
        lines.append(f"- {c} counted 0 for: " + ", ".join(f"{op} ×{n}" for op, n in ops.items()))
    return lines


def _signed(v) -> str:
    return ("+" if v >= 0 else "-") + si(abs(v))


def coverage_lines(report: Report) -> list[str]:
    """The forward's ledger, then (a training step) the backward's own, in the same shape."""
    cov = report.coverage or {}
    if not cov:
        return ["No coverage ledger in this report."]
    if "backward" not in cov:
        return ledger_lines(cov)
    return (["### Forward", ""] + ledger_lines(cov) + ["", "### Backward", ""]
            + ledger_lines(cov["backward"], "backward pass's "))


def ledger_lines(cov: dict, whose: str = "") -> list[str]:
    counted, free, unc = cov.get("counted", {}), cov.get("free", {}), cov.get("uncounted", {})
    lines = [f"Every executed operator lands in one bucket: {len(counted)} counted operator kinds "
             f"({sum(counted.values())} calls), {len(free)} declared free — views, reshapes, "
             f"concatenation ({sum(free.values())} calls), {len(unc)} uncounted."]
    if unc:
        share = cov.get("uncounted_traffic_share")
        lines.append(f"Uncounted operators carry {pct(100 * share) if share is not None else 'n/a'} "
                     f"of the {whose}tensor traffic; they have no formula, so their cost is missing from "
                     "the archlab count:")
        lines += ["", "| operator | calls | traffic share |", "|---|---:|---:|"]
        for op, d in sorted(unc.items(), key=lambda kv: -(kv[1].get("traffic_share") or 0)):
            lines.append(f"| `{op}` | {d.get('calls')} | {pct(100 * (d.get('traffic_share') or 0))} |")
    else:
        lines.append("Nothing uncounted.")
    if counted:
        top = sorted(counted.items(), key=lambda kv: -kv[1])[:12]
        lines += ["", "Counted operators (calls): " + ", ".join(f"`{k}` {v}" for k, v in top)
                  + (" …" if len(counted) > 12 else "")]
    return lines


def runtime_lines(report: Report) -> list[str]:
    """The runtime table (display.runtime_frame) with what its columns mean."""
    return ["Each runtime timed side by side with eager PyTorch in alternating rounds, on the "
            "profiling input; its outputs compared with eager's (max |y - y_eager| / max "
            "|y_eager|, in parts per million; beyond 100 ppm its time is not valid).", "",
            render(runtime_frame(report), "md", right=[1, 2, 3, 4]).rstrip()]


def _int(x) -> str:
    return "n/a" if is_missing(x) else f"{int(round(x)):,}"
