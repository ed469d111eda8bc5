"""The roofline (archlab.profile.roofline): bytes moved checked by hand against the README's
convention, bounds against ceilings fixed by hand (no timing threshold), the ceilings' cache, the
fields' round trip, and the plots and words made from them."""
from __future__ import annotations

import torch
from torch import nn

import pytest

from archlab.profile import profile_module
from archlab.profile.roofline import ceilings
from archlab.profile.roofline.moved import Traffic
from archlab.report.compare import Comparison
from archlab.report.files import write_comparison, write_report
from archlab.report.plots import text_defects
from archlab.report.plots.roofline import plot_roofline, plot_roofline_comparison
from archlab.results import load_report, roofline_terms

F32 = 4
# ceilings fixed by hand: 100 GMAC/s, 20 GB/s (ridge: 5 MACs per byte), 2 us per operator
FIXED = {"peak_macs_per_s": 1e11, "mem_bytes_per_s": 2e10, "op_floor_s": 2e-6, "threads": 1,
         "dtype": "float32", "how": "fixed by the test"}


@pytest.fixture
def fixed(monkeypatch):
    monkeypatch.setattr(ceilings, "machine", lambda device, threads, dtype: dict(FIXED))


def _count(module, *args, **kw):
    kw.setdefault("latency", False)
    kw.setdefault("memory", False)
    return profile_module(module, *args, conventions=("archlab",), **kw)


def test_a_convs_bytes_are_input_weight_bias_output(fixed, one_thread):
    r = _count(nn.Conv2d(3, 8, 3, padding=1), (3, 16, 16), batch=2).row("")
    by_hand = F32 * (2 * 3 * 16 * 16 + 8 * 3 * 3 * 3 + 8 + 2 * 8 * 16 * 16)
    assert (r.bytes_moved, r.ops) == (by_hand, 1)
    assert r.intensity == pytest.approx(r.macs / by_hand)
    # attainable: max(MACs / peak, bytes / bandwidth) + 1 operator x floor, in ms
    assert r.attainable_ms == pytest.approx(1e3 * (max(r.macs / 1e11, by_hand / 2e10) + 2e-6))


def test_a_linears_bytes_are_input_weight_bias_output(fixed, one_thread):
    r = _count(nn.Linear(64, 32), example_inputs=torch.randn(5, 64)).row("")
    assert r.bytes_moved == F32 * (5 * 64 + 32 * 64 + 32 + 5 * 32)
    assert r.macs == 5 * 64 * 32


def test_views_move_nothing_and_in_place_writes_count(one_thread):
    x = torch.randn(1000)
    traffic = Traffic([0], 0)
    with torch.inference_mode(), traffic:
        x.view(10, 100).t()  # two views
        torch.relu_(x)  # read and written in place
        torch.relu(x)  # read, and a new output written
        torch.add(x, x, out=torch.empty(1000))  # an out= buffer is written, not read
    assert traffic.ops == [6]  # empty() is an operator too: its output counts as written
    assert traffic.bytes == [2 * 4000 + 2 * 4000 + 3 * 4000 + 4000]


class _Matmul(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(1024, 1024))

    def forward(self, x):
        return x @ self.w


def test_a_large_matmul_is_compute_bound(fixed, one_thread):
    r = _count(_Matmul(), example_inputs=torch.randn(512, 1024)).row("")
    assert r.macs == 512 * 1024 * 1024
    assert r.bytes_moved == F32 * (512 * 1024 + 1024 * 1024 + 512 * 1024)  # the weight read counts
    assert r.intensity == pytest.approx(64.0)  # above the ridge of 5
    assert r.bound == "compute"


def test_a_relu_is_memory_or_overhead_bound(fixed, one_thread):
    big = _count(nn.ReLU(), (64, 128, 128)).row("")
    assert (big.macs, big.bound) == (0, "memory")  # 8 MiB in and out: 0.84 ms against 2 us
    small = _count(nn.ReLU(), (1, 2, 2)).row("")
    assert small.bound == "overhead"
    # whatever the ceilings this machine measures, an op without MACs is never compute-bound
    assert _count(nn.ReLU(), (8, 32, 32), threads=1).row("").bound in ("memory", "overhead")


def test_efficiency_is_in_zero_one_and_clipped_with_a_note(one_thread):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1))
    rep = profile_module(model, (3, 16, 16), conventions=("archlab",), warmup=1, budget_s=0.2,
                         memory=False, threads=1)
    machine = rep.env["machine"]
    assert {"peak_macs_per_s", "mem_bytes_per_s", "op_floor_s", "threads", "dtype",
            "how"} <= set(machine) and machine["threads"] == 1
    for r in rep.rows:
        assert 0 < r.efficiency <= 1, r
        assert r.bound in ("compute", "memory", "overhead")
    assert any(n.startswith("roofline: attainable_ms") for n in rep.notes)
    # ceilings far above the machine: every module slower than attainable; far below: clipped
    terms = roofline_terms(10, 10, 1, {**FIXED, "op_floor_s": 1.0})
    assert terms["bound"] == "overhead" and terms["attainable_ms"] == pytest.approx(1e3)


def test_training_has_a_backward_roofline(fixed, one_thread):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    rep = profile_module(model, (3, 8, 8), mode="train", conventions=("archlab",), latency=False,
                         memory=False)
    root = rep.row("")
    assert root.bytes_moved > 0 and root.bytes_moved_backward > 0
    assert root.ops_backward >= 2 and root.bound_backward in ("compute", "memory", "overhead")
    assert "bytes_moved_backward" in rep.to_frame()


def test_ceilings_are_measured_once_and_cached_by_fingerprint(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(ceilings, "_MEMO", {})
    calls = []

    def measure(device, threads, dtype):
        calls.append(threads)
        return {**FIXED, "threads": threads}
    monkeypatch.setattr(ceilings, "measure", measure)
    cpu = torch.device("cpu")
    first = ceilings.machine(cpu, 1, torch.float32)
    monkeypatch.setattr(ceilings, "_MEMO", {})  # a new process: from the file
    assert ceilings.machine(cpu, 1, torch.float32) == first and calls == [1]
    assert len(list((tmp_path / "archlab" / "machine").glob("*.json"))) == 1
    ceilings.machine(cpu, 2, torch.float32)  # another thread count: another fingerprint
    assert calls == [1, 2]


def test_measured_ceilings_are_positive_and_say_how(monkeypatch, tmp_path):
    monkeypatch.setattr(ceilings, "_BUDGET_S", 0.01)
    got = ceilings.measure(torch.device("cpu"), torch.get_num_threads(), torch.float32)
    assert all(got[k] > 0 for k in ("peak_macs_per_s", "mem_bytes_per_s", "op_floor_s"))
    assert "torch.mm" in got["how"] and "copy" in got["how"]


def _report(fixed, name="toy", **kw):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    rep = _count(model, (3, 16, 16), model_name=name, **kw)
    for r in rep.rows:  # times by hand: the plots need them, the test no clock
        r.self_ms = 0.0 if r.name == "" else 0.05
        r.latency_ms = 0.05 * (3 if r.name == "" else 1)
    rep.totals["latency_ms"] = 0.2
    return rep


def test_fields_round_trip_and_reach_the_files(fixed, tmp_path, one_thread):
    rep = _report(fixed)
    paths = write_report(rep, tmp_path)
    back = load_report(tmp_path)
    assert back.rows[1].bytes_moved == rep.rows[1].bytes_moved and back.rows[1].bound
    csv = paths["modules.csv"].read_text().splitlines()[0]
    assert all(k in csv for k in ("bytes_moved", "intensity", "attainable_ms", "efficiency", "bound"))
    summary = paths["summary.md"].read_text()
    assert "## Why: what bounds each module" in summary and "roofline.png" in summary
    _no_text_collides(plot_roofline(rep))


def test_a_comparison_draws_an_arrow_and_says_why(fixed, tmp_path, one_thread):
    base = _report(fixed, "base")
    variant = _report(fixed, "variant")
    variant.spec = {"base": "base", "change": "a wider head"}
    variant.row("").ops += 10  # ten more operators, as a design choice may add
    variant.totals["latency_ms"] = 0.25
    comp = Comparison([base, variant])
    fig = plot_roofline_comparison(comp)
    assert sum(1 for t in fig.axes[0].texts if t.arrow_patch is not None) >= 1
    _no_text_collides(fig)
    paths = write_comparison(comp, tmp_path, {})
    text = paths["table.md"].read_text()
    assert "## Why" in text and "**variant** (a wider head) vs base" in text
    assert "+10 operators" in text and "+25.0 % time" in text and "roofline.png" in paths


def _no_text_collides(fig):
    """Every piece of text inside the figure and overlapping no other (shared/design.md, 14)."""
    assert text_defects(fig) == []


def test_a_resumed_profile_keeps_its_roofline(fixed, one_thread):
    from archlab.results import merge_latency

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    counted = _count(model, (3, 8, 8))  # interrupted after counting: no time, no efficiency
    timed = profile_module(model, (3, 8, 8), count=False, warmup=1, budget_s=0.1, threads=1)
    whole = merge_latency(counted, timed)
    assert whole.env["machine"] == counted.env["machine"]
    assert all(0 < r.efficiency <= 1 for r in whole.rows)
