"""Turn what the passes measured into a Report: rows, totals, the op ledger, timing and notes.

Everything stored is JSON-native (dicts, lists, str, int, float, None) so a report read back from
disk equals the one written. None means "not measured"; 0 means measured and nothing there.
"""
from __future__ import annotations

import numpy as np

from ..results import ModuleStat, Report
from .count import coverage
from .count.conventions import TABLE
from .timing.accounting import account
from .timing.position import position_notes
from .timing.stability import MAX_SE_SHARE, MIN_OP_PASSES, row_spreads
from .timing.stats import judged
from .train.step import step_figures

_MEMORY_NOTE = ("peak_bytes: the most activation memory alive while a module ran, above the level "
                "at the start of the forward (parameters, buffers and the input excluded); {how}")
_LATENCY_NOTE = ("per module: self_ms is the time of the module's own operators, each timed where it "
                 "runs ({how}) less the clock's own cost per operator ({cost:.2g} us, "
                 "calibrated), median of {n} passes (self_ms_p10 / _p90: their spread); latency_ms adds its submodules' (inclusive); "
                 "the end-to-end median of the uninstrumented calls of the same rounds, less the "
                 "operators' time, is the framework overhead (overhead_ms): op_ms + overhead_ms = "
                 "median_ms")

_ALLOCATOR_NOTE = ("allocator: timed with glibc's malloc keeping freed memory (M_MMAP_THRESHOLD "
                   "32 MiB, M_TRIM_THRESHOLD 1 GiB), so every forward reuses warm pages and a "
                   "module's time does not depend on the fresh pages its position happens to get; "
                   "page_faults: the minor page faults a module's own operators take per forward "
                   "under glibc's default settings (fresh pages, zeroed by the kernel), what it "
                   "would pay in a process that gives its memory back "
                   "(archlab/profile/timing/faults.py)")


def _per_sample(v, batch):
    if v is None:
        return None
    return v // batch if v % batch == 0 else v / batch


def build_report(module, table, params, result, run, conventions, environment, *, recipe,
                 batch, dtype, memory_format, model_name, spec, settings, mode="eval") -> Report:
    """`params`: ModuleTable.param_stats(); `recipe`: how the inputs were made (inputs.py)."""
    n = len(table)
    if recipe.is_example() and "inputs" in result:  # the batch the examples carry
        batch = result["inputs"].batch()
    rec = result.get("count")
    counted = rec is not None
    # after a failed forward, modules that finished keep their numbers; the interrupted ones
    # (the failing module and its callers) are not measured
    done = [counted and (run.forward_ok or (rec.calls[i] > 0 and i not in run.unfinished))
            for i in range(n)]
    inc = {}
    if counted:
        for key in ("macs", "flops", "act_bytes", "act_elems"):
            values = getattr(rec, key)
            total = table.inclusive(values)
            total[0] += values[n]  # ops run outside every module's forward belong to the model
            inc[key] = total
    # every convention in one shape; the recorder's count only modules that finished
    by_conv = coverage.from_recorder(rec, table) if counted else {}
    by_conv.update({c: result[c] for c in ("fvcore", "thop") if c in result})
    by_conv = {c: by_conv[c] for c in conventions if c in by_conv}
    external = {c for c in by_conv if c in result}
    tm = result.get("timing", {})
    rounds = tm.get("rounds")
    whole = judged(rounds.samples["plain"], rounds.watch) if rounds else None
    parts = {p: _self_ms(per_pass, n) for p, per_pass in tm.get("per_pass", {}).items()
             if per_pass}
    split = None
    if whole and parts:  # one accounting: operators + overhead = the median of the same rounds
        split = account(whole["median_ms"], parts, rounds.samples["plain"],
                        rounds.samples["instrumented"],
                        ops={p: _fold(k, n) for p, k in tm.get("ops", {}).items()},
                        clock_ms_per_op=1e3 * tm.get("clock_s_per_op", 0.0))
    if split:
        parts = split[0]
    self_ms = parts.get("forward")
    incl_ms = table.inclusive(self_ms) if self_ms is not None else None
    spreads = {}  # each row's p10 and p90 over the passes, corrected as its median was
    if split and tm["per_pass"].get("forward"):
        spreads = row_spreads(tm["per_pass"]["forward"], n, table.parents,
                              ops=(tm.get("ops") or {}).get("forward"),
                              clock_ms_per_op=1e3 * tm.get("clock_s_per_op", 0.0),
                              scale=split[1]["op_scale"])
    faults = _fold(tm["faults"], n) if tm.get("faults") else None

    train_rows, train_totals = step_figures(result, table, parts.get("backward"))
    rows = []
    for i in range(n):
        counts = {c: k.per_module[i] for c, k in by_conv.items()
                  if c != "archlab" and k.per_module[i] is not None and (done[i] or c in external)}
        ok = done[i]
        peak = rec.peak[i] if (ok and rec.memory is not None) else None
        rows.append(ModuleStat(
            name=table.names[i], type=table.types[i], depth=table.depths[i],
            params=params["params"][i], trainable_params=params["trainable"][i],
            param_bytes=params["bytes"][i],
            input_shape=rec.shapes[i][0] if counted and rec.shapes[i] else None,
            output_shape=rec.shapes[i][1] if counted and rec.shapes[i] else None,
            calls=rec.calls[i] if counted else None,
            macs=inc["macs"][i] if ok else None, flops=inc["flops"][i] if ok else None,
            act_bytes=inc["act_bytes"][i] if ok else None,
            self_ms=self_ms[i] if self_ms is not None else None,
            latency_ms=incl_ms[i] if incl_ms is not None else None, peak_bytes=peak,
            counts=counts, error=run.row_errors.get(i),
            **{k: v[i] for k, v in spreads.items()},
            page_faults=faults[i] if faults is not None else None,
            parent=table.names[table.parents[i]] if table.parents[i] >= 0 else None,
            **train_rows[i]))

    root = rows[0]
    totals = {"params": root.params, "trainable_params": root.trainable_params,
              "frozen_params": root.params - root.trainable_params,
              **{f"param_bytes[{dt}]": v for dt, v in root.param_bytes.items()},
              "macs": root.macs, "flops": root.flops,
              "macs_per_sample": _per_sample(root.macs, batch),
              "flops_per_sample": _per_sample(root.flops, batch),
              "act_bytes": root.act_bytes, "activations": inc["act_elems"][0] if done[0] else None,
              "peak_bytes": root.peak_bytes}
    totals.update(train_totals)
    for key in ("median_ms", "p10_ms", "p90_ms", "iqr_ms", "n"):
        name = "latency_ms" if key == "median_ms" else f"latency_{key}"
        totals[name] = whole[key] if whole else None
    for c, k in by_conv.items():
        if c != "archlab" and (done[0] or c in external):
            totals[c] = k.total

    cov = coverage.ledger(rec, table, by_conv) if counted else {}
    if counted and result.get("train"):  # the backward's own ledger: nothing uncounted is silent
        cov["backward"] = coverage.backward_ledger(result["train"]["backward"], table)
    if counted and not run.forward_ok:
        cov["partial"] = True  # the ledger of the ops that ran before the failure
    notes = list(run.notes)
    if counted:
        notes += coverage.count_notes(rec, table, cov, complete=run.forward_ok)
        if rec.memory is not None:
            how = ("CUDA caching allocator peaks, reset around each module"
                   if run.device.type == "cuda" else
                   "CPU: new output storages tracked at the dispatch level until freed")
            notes.append(_MEMORY_NOTE.format(how=how))
    timing = dict(settings)
    if whole:
        timing.update(whole, warmup_calls=rounds.warmup_calls,
                      number_per_run=rounds.number, rounds=rounds.method["rounds"],
                      samples_ms=[round(float(t), 6) for t in rounds.samples["plain"]],
                      method=_method(run.device, settings.get("cuda_graph"), mode,
                                     per_module=split is not None))
    if split:
        _, fields, split_notes, split_warnings = split
        per_pass = tm["per_pass"]
        passes = len(per_pass["forward"])
        timing.update(fields, op_passes=passes, op_se_pct=_pct(tm.get("se_share")),
                      allocator_kept=tm.get("allocator"),
                      op_min_passes=MIN_OP_PASSES, op_max_se_pct=100 * MAX_SE_SHARE,
                      op_ms_per_pass=[1e3 * sum(sum(per_pass[p][i]) for p in per_pass)
                                      for i in range(passes)])
        if split_warnings:
            timing["reliable"] = False
            timing["warnings"] = timing["warnings"] + split_warnings
        how = ("a CUDA event pair around each operator, read after one synchronisation"
               if run.device.type == "cuda" else "perf_counter just before and after each operator")
        notes.append(_LATENCY_NOTE.format(how=how, n=passes, cost=fields["clock_us_per_op"]))
        notes += split_notes
        if tm.get("allocator"):
            notes.append(_ALLOCATOR_NOTE)
        notes += position_notes(rows)
    spec_dict = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec or {})
    return Report(
        model=model_name or type(module).__name__, spec=_jsonable(spec_dict),
        input={"shape": recipe.label(), "batch": batch, "mode": mode,
               "arguments": result["inputs"].describe() if "inputs" in result else [],
               "dtype": str(dtype).replace("torch.", ""), "memory_format": memory_format},
        env=environment, rows=rows, totals=totals, coverage=cov, timing=timing, notes=notes,
        conventions={c: TABLE[c].describe() for c in conventions})


def _self_ms(per_pass, n) -> list[float] | None:
    """Per module, the median over passes of its own operators' ms; the model's row also takes the
    operators run outside every module (the recorder's last slot)."""
    if not per_pass:
        return None
    med = np.median(np.asarray(per_pass) * 1e3, axis=0)
    out = [float(v) for v in med[:n]]
    out[0] += float(med[n])
    return out


def _pct(share):
    return None if share is None else 100.0 * share


def _fold(per_module, n) -> list[float]:
    """Per module, with the model's row also taking what ran outside every module (last slot)."""
    out = list(per_module[:n])
    out[0] += per_module[n]
    return out


def _method(device, graph, mode, *, per_module: bool) -> str:
    what = ("training steps (forward, the sum of the outputs, backward), train mode"
            if mode == "train" else
            ("a replayed CUDA graph" if graph else "eager forward calls")
            + ", eval mode, torch.inference_mode")
    clock = "CUDA events per block" if device.type == "cuda" else "perf_counter per block"
    beside = (" in rotated rounds with the same calls, every operator timed" if per_module
              else "")
    return f"archlab's side-by-side harness ({clock}): {what}, uninstrumented{beside}"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
