"""The end-to-end latency and what it is made of, as every table, summary and plot reads it: one
accounting (archlab.profile.timing.accounting), so every "of which" adds up to what it divides;
how it was measured and whether it can be trusted, in words (summary.md's Method)."""
from __future__ import annotations

from ..results import Report
from .units import is_missing, ms, pct


def end_to_end_ms(report: Report):
    """The whole-model time that module latencies are shares of: operator time plus framework
    overhead, which is the end-to-end median itself (archlab.profile.timing.accounting: both come
    from the same rounds and add up, the overhead never negative). A report made before that
    accounting may carry a negative overhead; it counts as 0 here, so no share is negative.
    None without latency."""
    op = report.timing.get("op_ms")
    if is_missing(op):
        return report.totals.get("latency_ms")
    return op + max(0.0, report.timing.get("overhead_ms") or 0.0)


def overhead_ms(report: Report):
    """Framework overhead shown as its own segment: never below zero (see end_to_end_ms)."""
    over = report.timing.get("overhead_ms")
    return None if is_missing(over) else max(0.0, over)


def latency_split(report: Report) -> list[tuple[str, float]]:
    """What the end-to-end median is made of, (label, ms) in order, adding up to end_to_end_ms:
    operators (a training step: forward, backward and optimizer operators apart) and the
    framework overhead. [] when operators were not timed."""
    tm = report.timing or {}
    if is_missing(tm.get("op_ms")):
        return []
    parts = [(label, tm[key]) for key, label in (
        ("op_ms_forward", "forward operators"), ("op_ms_backward", "backward operators"),
        ("op_ms_optimizer", "optimizer operators")) if not is_missing(tm.get(key))]
    return (parts or [("operators", tm["op_ms"])]) + [("framework overhead", overhead_ms(report))]


def scaled_note(report: Report) -> str | None:
    """One sentence when the operator times were scaled to the end-to-end median (they exceeded
    it under the operator clock), with the instrumentation cost measured in the same rounds."""
    tm = report.timing or {}
    scale = tm.get("op_scale")
    if is_missing(scale) or scale >= 1.0:
        return None
    net = (tm.get("op_ms_measured") or 0.0) - (tm.get("clock_ms") or 0.0)
    return (f"operator times scaled by {scale:.3f} to add up to the median: under the operator "
            f"clock, less its calibrated cost, they summed to {ms(net)} ms; an operator-timed call "
            f"cost {ms(tm.get('instrumentation_ms'))} ms more than a plain one (instrumentation), "
            "so the overhead cannot be told apart from it in this run")


def latency_warning(report: Report) -> str | None:
    """'⚠ latency not reliable: reason; reason' when the report's timing says so, else None."""
    tm = report.timing or {}
    if tm.get("reliable") is False:
        return "⚠ latency not reliable: " + "; ".join(tm.get("warnings") or ["no reason recorded"])
    return None


def method_lines(report: Report) -> list[str]:
    tm = report.timing or {}
    if not tm or is_missing(report.totals.get("latency_ms")):
        return ["Latency was not measured. Counts come from one forward pass in inference mode, "
                "counted at the operator (dispatch) level and attributed to the module running."]
    cuda = str(report.env.get("device", "cpu")).startswith("cuda")
    lines = [f"- Whole model: {tm.get('method', 'archlab.profile.timing.harness')}; warm-up "
             f"{tm.get('warmup_calls', tm.get('warmup', '?'))} calls, then rounds of one sample "
             f"of {tm.get('number_per_run', '?')} call(s) each for {tm.get('budget_s', '?')} s, "
             f"longer (up to {tm.get('max_s', '?')} s) while the IQR exceeded 10% of the median: "
             f"n = {tm.get('n', '?')}, median {ms(tm.get('median_ms'))} ms, IQR "
             f"{ms(tm.get('iqr_ms'))}, p10 {ms(tm.get('p10_ms'))}, p90 {ms(tm.get('p90_ms'))}."]
    lines.append("- " + reliability_text(tm))
    if not is_missing(tm.get("op_ms")):
        how = ("a CUDA event pair around each operator, read after one synchronisation" if cuda
               else "a clock read just before and just after each operator")
        lines.append(
            f"- Per module: every operator timed where it runs ({how}) and attributed to the "
            f"innermost module running, in calls that ran in the same rotated rounds as the "
            f"uninstrumented ones; per module the median over {tm.get('op_passes', '?')} "
            f"passes, each operator's window less the clock's own cost, calibrated in the same "
            f"run ({_us(tm.get('clock_us_per_op'))} us per operator, {ms(tm.get('clock_ms'))} ms "
            f"in all). self_ms is a module's own operators, latency_ms adds its submodules'. They "
            f"sum to {ms(tm['op_ms'])} ms of operator time; the end-to-end median less that is "
            f"{ms(tm.get('overhead_ms'))} ms of framework overhead (Python, dispatch, work between "
            f"operators), shown as its own segment, so the two add up to the median. An "
            f"operator-timed call took {ms(tm.get('instrumented_ms'))} ms, "
            f"{ms(tm.get('instrumentation_ms'))} ms more than an uninstrumented one in the same "
            "rounds (instrumentation: the dispatch mode, the module hooks, the clock reads).")
        if scaled_note(report):
            lines.append(f"- ⚠ {scaled_note(report)}: when the operators exceed the median, "
                         "every operator time is scaled by the same factor (see "
                         "archlab/profile/timing/accounting.py).")
    lines += ["- Memory: peak of live tensor storage while each module ran (CPU: a dispatch-level "
              "tracker; GPU: the caching allocator's peak counters) and bytes of activations produced.",
              "- Counts: one forward pass, counted at the operator (dispatch) level and attributed to "
              "the innermost module running."]
    return lines


def reliability_text(tm: dict) -> str:
    """The conditions of the timing in one sentence, and the verdict."""
    share = tm.get("cpu_share")
    load = tm.get("load_before"), tm.get("load_after")
    facts = [f"spread (IQR / median) {pct(100 * tm['spread']) if tm.get('spread') is not None else 'n/a'}"]
    if share is not None:
        facts.append(f"CPU share {share:.2f} (CPU time / (wall x threads))")
    facts.append(f"{tm.get('threads', '?')} thread(s) on {tm.get('cores', '?')} usable cores")
    if load[0]:
        facts.append(f"load average {load[0][0]:.2f} before, {load[1][0]:.2f} after" if load[1]
                     else f"load average {load[0][0]:.2f} before")
    if tm.get("reliable") is None:
        return "Conditions: " + ", ".join(facts) + "."
    verdict = ("reliable (spread <= 10% over >= 4 samples, CPU share >= 0.8, threads <= cores)"
               if tm["reliable"]
               else "⚠ not reliable: " + "; ".join(tm.get("warnings") or []))
    return "Conditions: " + ", ".join(facts) + f". Verdict: {verdict}."


def _us(x) -> str:
    return "n/a" if is_missing(x) else f"{x:.2g}"
