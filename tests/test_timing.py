"""The one timing harness and the one accounting: rotated rounds, budget and minimum rounds, blocks,
the ratio summary; end-to-end median = operators + overhead (never negative) in the report, the
terminal, summary.md and the plots, in eval and train mode, and when the operators exceed it."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import archlab.profile.timing.operators as operators
from archlab.profile import profile_module
from archlab.profile.timing.accounting import account
from archlab.profile.timing.harness import MIN_ROUNDS, Contender, rotated, side_by_side
from archlab.profile.timing.stats import judged_ratio, paired_ratio
from archlab.report.plots.training import plot_training
from archlab.report.summary import summary_markdown
from archlab.report.tables import stage_frame, totals_lines

CPU = torch.device("cpu")
TINY = dict(conventions=("archlab",), warmup=1, budget_s=0.1, module_iters=3, threads=1)


def small():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))


# ---------------------------------------------------------------- the harness

def test_rounds_rotate_so_each_contender_goes_first_equally_often():
    calls = []
    forwards = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    got = side_by_side(forwards, CPU, warmup=1, min_rounds=6, max_rounds=6, budget_s=60)
    assert "".join(calls) == "abc" + "abc" + "bca" + "cab" + "abc" + "bca" + "cab"
    timed = ["".join(calls[3 + 3 * r: 6 + 3 * r]) for r in range(6)]
    assert {n: sum(t[0] == n for t in timed) for n in "abc"} == {"a": 2, "b": 2, "c": 2}
    assert {n: len(v) for n, v in got.samples.items()} == {"a": 6, "b": 6, "c": 6}
    assert got.method["order"] == "rotated each round" and rotated(list("ab"), 1) == ["b", "a"]


def test_budget_stops_the_rounds_but_never_before_the_minimum():
    forwards = {"a": lambda: None, "b": lambda: None}
    got = side_by_side(forwards, CPU, warmup=0, max_rounds=50, budget_s=1e-9)
    assert len(got.samples["a"]) == len(got.samples["b"]) == MIN_ROUNDS
    got = side_by_side(forwards, CPU, warmup=0, min_rounds=7, max_rounds=50, budget_s=1e-9)
    assert len(got.samples["a"]) == len(got.samples["b"]) == 7
    got = side_by_side(forwards, CPU, warmup=0, min_rounds=9, max_rounds=3, budget_s=60)
    assert len(got.samples["a"]) == 3  # max_rounds caps the minimum too


def test_unsettled_samples_run_past_the_budget_up_to_max_s_or_max_rounds():
    forwards = {"a": lambda: None}
    got = side_by_side(forwards, CPU, warmup=0, max_rounds=11, budget_s=1e-9, max_s=60,
                       settled=lambda s: False)
    assert len(got.samples["a"]) == 11
    got = side_by_side(forwards, CPU, warmup=0, max_rounds=11, budget_s=1e-9, max_s=60,
                       settled=lambda s: True)
    assert len(got.samples["a"]) == MIN_ROUNDS


def test_short_calls_are_timed_in_blocks_with_work_outside_the_window():
    seen = {"before": 0, "calls": 0, "after": []}

    def before():
        seen["before"] += 1

    def call():
        seen["calls"] += 1

    got = side_by_side({"plain": lambda: None,
                        "traced": Contender(call, before=before, after=seen["after"].append)},
                       CPU, warmup=2, min_rounds=5, max_rounds=5, budget_s=60, min_sample_s=1e-3)
    assert got.number > 1 and got.method["number_per_run"] == got.number  # a no-op is << 1 ms
    assert seen["after"] == [got.number] * 5  # once per timed block, told its length
    assert seen["before"] == 2 + 5 and seen["calls"] == 2 + 5 * got.number
    assert all(isinstance(v, float) and v >= 0 for xs in got.samples.values() for v in xs)
    assert set(got.watch) >= {"cpu_share", "threads", "cores", "load_before", "wall_s"}


def test_the_harness_refuses_nonsense():
    with pytest.raises(ValueError, match="at least one contender"):
        side_by_side({}, CPU)
    with pytest.raises(ValueError, match="budget_s"):
        side_by_side({"a": lambda: None}, CPU, budget_s=2, max_s=1)


def test_loop_and_watcher_are_written_once():
    """Every side-by-side timing goes through harness.side_by_side: nothing else in
    archlab/profile rotates an order or watches the load."""
    root = Path(__file__).resolve().parents[1] / "archlab" / "profile"
    users = {str(p.relative_to(root)) for p in root.rglob("*.py")
             if re.search(r"\brotated\(|\bWatch\(", p.read_text().replace("def rotated(", ""))}
    assert users == {"timing/harness.py"}


# ---------------------------------------------------------------- summaries

def test_paired_ratio_of_hand_made_samples():
    got = paired_ratio([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5)
    assert got["ratio"] == 3.0 and got["n"] == 5
    assert got["ratio_p10"] == pytest.approx(1.4) and got["ratio_p90"] == pytest.approx(4.6)
    # a slow round that hits both sides alike leaves its ratio alone
    got = paired_ratio([2.0, 20.0, 2.0], [1.0, 10.0, 1.0])
    assert got["ratio"] == got["ratio_p10"] == got["ratio_p90"] == 2.0
    assert got["model_ms"] == 2.0 and got["base_ms"] == 1.0
    with pytest.raises(ValueError, match="same rounds"):
        paired_ratio([1.0, 2.0], [1.0])


def test_judged_ratio_carries_the_verdict():
    facts = {"threads": 1, "cores": 2, "cpu_share": 0.95}
    steady = judged_ratio([2.0, 20.0, 2.0, 2.0], [1.0, 10.0, 1.0, 1.0], facts)
    assert steady["reliable"] and steady["spread"] == 0.0
    noisy = judged_ratio([1.0, 3.0, 1.0, 3.0], [1.0] * 4, facts)
    assert not noisy["reliable"] and "spread" in noisy["warnings"][0]


def test_accounting_adds_up_and_scales_operators_that_exceed_the_median():
    parts = {"forward": [3.0, 1.0], "backward": [4.0, 2.0]}
    kept, fields, notes, warnings = account(12.0, parts, [12.0] * 4, [20.0] * 4)
    assert kept == parts and fields["op_scale"] == 1.0 and not notes and not warnings
    assert fields["op_ms"] + fields["overhead_ms"] == 12.0 and fields["overhead_ms"] == 2.0
    assert fields["op_ms_forward"] == 4.0 and fields["instrumentation_ms"] == 8.0
    kept, fields, notes, warnings = account(8.0, parts, [8.0, 9.0, 7.0], [11.0, 12.0, 9.0])
    assert fields["op_scale"] == pytest.approx(0.8) and fields["op_ms_measured"] == 10.0
    assert fields["op_ms"] == pytest.approx(8.0) and fields["overhead_ms"] == 0.0
    assert sum(kept["forward"]) + sum(kept["backward"]) == pytest.approx(8.0)
    assert fields["instrumentation_ms"] == 3.0  # median of 3, 3, 2
    assert "scaled by 0.800" in notes[0] and "exceeds" in warnings[0]


def test_accounting_takes_the_clocks_calibrated_cost_off_every_operator():
    parts = {"forward": [3.0, 0.5, 1.0]}
    ops = {"forward": [10.0, 1000.0, 0.0]}  # the second module's 1000 operators cost the clock 1 ms
    kept, fields, notes, _ = account(9.0, parts, [9.0] * 4, [12.0] * 4, ops=ops,
                                     clock_ms_per_op=1e-3)
    assert kept["forward"] == pytest.approx([2.99, 0.0, 1.0])  # never below 0
    assert fields["clock_ms"] == pytest.approx(0.51) and fields["op_ms_measured"] == 4.5
    assert fields["op_ms"] + fields["overhead_ms"] == pytest.approx(9.0)
    assert fields["ops_per_call"] == 1010 and fields["clock_us_per_op"] == 1.0 and not notes


def test_the_clock_cost_is_calibrated_on_the_cpu_and_zero_on_a_gpu():
    from archlab.profile.core.hooks import ModuleTable

    table = ModuleTable(small())
    assert operators.clock_cost_s(table, CPU, calls=200, tries=2) >= 0.0
    assert operators.clock_cost_s(table, torch.device("cuda")) == 0.0


# ---------------------------------------------------------------- one accounting, end to end

def _adds_up(tm):
    assert tm["overhead_ms"] >= 0
    assert tm["op_ms"] + tm["overhead_ms"] == pytest.approx(tm["median_ms"], rel=0.01)
    assert tm["n"] == tm["op_passes"]  # the median and the split from the same rounds


def _numbers(text):
    return [float(v) for v in re.findall(r"(-?\d+(?:\.\d+)?) ms", text)]


def _sums(total_text, parts_text):
    """The printed parts add up to the printed total, within the rounding of what is printed."""
    total, parts = _numbers(total_text)[0], _numbers(parts_text)
    slack = sum(5 * 10 ** -(len(v.split(".")[1]) + 1) if "." in v else 0.5
                for v in re.findall(r"(-?\d+(?:\.\d+)?) ms", total_text + parts_text))
    assert all(p >= 0 for p in parts)
    assert sum(parts) == pytest.approx(total, abs=slack + 1e-9)


@pytest.fixture(scope="module")
def eval_report():
    return profile_module(small(), (3, 16, 16), batch=2, **TINY)


@pytest.fixture(scope="module")
def train_report():
    return profile_module(small(), (3, 16, 16), batch=2, mode="train", sgd=True, **TINY)


def test_eval_profile_adds_up(eval_report):
    tm = eval_report.timing
    _adds_up(tm)
    assert sum(r.self_ms for r in eval_report.rows) == pytest.approx(tm["op_ms"], rel=1e-9)
    assert tm["median_ms"] == eval_report.totals["latency_ms"]
    assert tm["instrumentation_ms"] is not None and tm["op_scale"] <= 1.0


def test_train_profile_adds_up_with_the_optimizer(train_report):
    tm, rows = train_report.timing, train_report.rows
    _adds_up(tm)
    assert tm["op_ms"] == pytest.approx(tm["op_ms_forward"] + tm["op_ms_backward"]
                                        + tm["op_ms_optimizer"])
    assert tm["op_ms_optimizer"] > 0  # SGD's operators, timed in the same step
    assert sum(r.self_ms_backward for r in rows) == pytest.approx(tm["op_ms_backward"])
    sf = stage_frame(train_report)
    assert "optimizer step" in list(sf["stage"])
    assert sf["latency_ms"].sum() == pytest.approx(tm["median_ms"], rel=0.01)
    ax = plot_training(train_report).axes[1]
    assert sum(p.get_width() for p in ax.patches) == pytest.approx(tm["median_ms"], rel=0.01)


@pytest.mark.parametrize("which", ["eval_report", "train_report"])
def test_terminal_and_summary_add_up(which, request):
    report = request.getfixturevalue(which)
    lines = totals_lines(report)
    total = next(line for line in lines if line.startswith("latency (whole model"))
    split = next(line for line in lines if line.startswith("of which"))
    _sums(total.split(", p10")[0], split.split("(per module")[0])
    md = summary_markdown(report).splitlines()
    total = next(line for line in md if line.startswith("| latency, whole model"))
    parts = [line for line in md if line.startswith("| of which")]
    assert any("framework overhead" in p for p in parts)
    _sums(total.split("(p10")[0], " ".join(parts))


def test_operators_exceeding_the_median_are_scaled_and_said_so(monkeypatch):
    real = operators.side_by_side

    def plain_looks_faster(contenders, device, **kw):
        got = real(contenders, device, **kw)
        got.samples["plain"] = [v / 10 for v in got.samples["plain"]]
        return got

    monkeypatch.setattr(operators, "side_by_side", plain_looks_faster)
    rep = profile_module(small(), (3, 16, 16), batch=2, **TINY)
    tm = rep.timing
    _adds_up(tm)
    assert tm["op_scale"] < 1 and tm["op_ms_measured"] > tm["median_ms"]
    assert tm["overhead_ms"] == 0.0 and tm["instrumentation_ms"] > 0
    assert sum(r.self_ms for r in rep.rows) == pytest.approx(tm["median_ms"], rel=1e-6)
    assert tm["reliable"] is False and any("exceeds" in w for w in tm["warnings"])
    assert any(n.startswith("operator times scaled by") for n in rep.notes)
    assert any("scaled" in line for line in totals_lines(rep))
    assert "operator times scaled" in summary_markdown(rep)
    assert np.isfinite(stage_frame(rep)["latency_ms"].astype(float)).all()
