"""Report objects, tables, comparisons, files, plots and resume — on reports built by hand, so these
tests need neither the models nor the profiler and run in a few seconds."""
from __future__ import annotations

import copy
import json
import math

import pandas as pd
import pytest

from archlab.report import ModuleStat, Report, ReportError, load_report
from archlab.report.compare import Comparison, load_comparison
from archlab.report.files import comparison_markdown, write_comparison, write_report, writable_dir
from archlab.report.plots import (plot_cost_scatter, plot_deltas, plot_macs_vs_latency, plot_stages,
                                  plot_top_modules, reported_ap)
from archlab.report.summary import summary_markdown
from archlab.report.display import module_table, render
from archlab.report.tables import (module_frame, self_frame, stage_frame,
                                   top_modules, totals_frame, totals_lines)
from archlab.profile.count.conventions import TABLE
from archlab.report.units import published, si

CONVS = ("archlab", "fvcore", "thop", "paper-hook", "paper-conv")


def make_report(name="toy", scale=1.0, base=None, latency=True, batch=1, reported=()):
    """A small model by hand: root -> stem(conv, relu), head; the root runs one functional op."""
    def stat(n, typ, depth, params, macs, lat, own, fv):
        m = int(macs * scale)
        counts = {"fvcore": int(fv * scale), "thop": int(fv * scale), "paper-hook": int(0.8 * m),
                  "paper-conv": int(fv * scale)}
        return ModuleStat(n, typ, depth, int(params * scale), m, 2 * m, 4 * m,
                          lat * scale if latency else None, 8 * m, counts,
                          self_ms=own * scale if latency else None,
                          parent=None if not n else n.rpartition(".")[0])

    # operator time 7.5 ms of a 9.0 ms forward: 1.5 ms of framework overhead
    rows = [stat("", "Toy", 0, 100, 1000, 7.5, 0.75, 800),
            stat("stem", "Stem", 1, 40, 600, 4.5, 0.75, 500),
            stat("stem.conv", "Conv2d", 2, 40, 500, 3.0, 3.0, 500),
            stat("stem.relu", "ReLU", 2, 0, 100, 0.75, 0.75, 0),
            stat("head", "Conv2d", 1, 60, 300, 2.25, 2.25, 300)]
    root = rows[0]
    totals = {"params": root.params, "macs": root.macs, "flops": root.flops,
              "macs_per_sample": root.macs / batch, "flops_per_sample": root.flops / batch,
              "act_bytes": root.act_bytes, "peak_bytes": root.peak_bytes, **root.counts}
    timing = {}
    if latency:
        totals.update(latency_ms=9.0 * scale, latency_p10_ms=8.5 * scale, latency_p90_ms=9.9 * scale,
                      latency_iqr_ms=0.4 * scale, latency_n=20)
        timing = {"warmup": 3, "budget_s": 1.0, "max_s": 3.0, "median_ms": 9.0 * scale,
                  "p10_ms": 8.5 * scale, "p90_ms": 9.9 * scale, "iqr_ms": 0.4 * scale, "n": 20,
                  "number_per_run": 1, "op_ms": 7.5 * scale, "overhead_ms": 1.5 * scale,
                  "alongside_ms": 9.0 * scale,
                  "op_passes": 5, "instrumented_ms": 12.0 * scale, "spread": 0.044,
                  "cpu_share": 0.97, "threads": 1, "cores": 2, "load_before": [0.1, 0.1, 0.1],
                  "load_after": [0.2, 0.1, 0.1], "reliable": True, "warnings": []}
    spec = {"class": "ToySpec", "name": name, "family": "toy", "input_size": [3, 64, 48], "base": base,
            "change": f"{name} changes something" if base else "", "reported": [list(r) for r in reported]}
    env = {"device": "cpu", "device_name": "test-cpu", "threads": 1, "dtype": "float32",
           "memory_format": "contiguous_format", "torch": "2.x", "archlab": "0", "fvcore": "0.1.5",
           "thop": "0.1.1", "python": "3", "platform": "test", "date": "2024-01-01T00:00:00",
           "cudnn_benchmark": None, "conventions": list(CONVS)}
    cov = {"counted": {"aten.convolution": 2, "aten.add.Tensor": 1}, "free": {"aten.view": 3},
           "uncounted": {"aten.weird": {"calls": 1, "traffic_share": 0.01}},
           "uncounted_traffic_share": 0.01}
    return Report(model=name, spec=spec, input={"shape": [3, 64, 48], "batch": batch}, env=env, rows=rows,
                  totals=totals, coverage=cov, timing=timing, notes=["hand-made"],
                  conventions={c: TABLE[c].describe() for c in CONVS})


@pytest.fixture
def report():
    return make_report(reported=[("coco_ap_64x48", 50.0)])


# ---------------------------------------------------------------- round trips

def test_json_round_trip_is_identical(report, tmp_path):
    text = report.to_json()
    assert Report.from_json(text).to_json() == text
    write_report(report, tmp_path / "r", plots=False)
    assert load_report(tmp_path / "r").to_json() == text
    assert load_report(tmp_path / "r" / "report.json").to_dict() == report.to_dict()


def test_round_trip_keeps_missing_and_nan(tmp_path):
    r = make_report(latency=False)
    r.totals["odd"] = math.nan
    again = Report.from_json(r.to_json())
    assert again.to_json() == r.to_json()
    assert again.row("head").latency_ms is None


def test_load_report_errors_are_report_errors(tmp_path):
    with pytest.raises(ReportError, match="no report"):
        load_report(tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReportError, match="cannot read"):
        load_report(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "x"}))
    with pytest.raises(ReportError, match="not an archlab report"):
        load_report(tmp_path / "other.json")


# ---------------------------------------------------------------- tables

def test_module_frame_depth_shares_and_drill(report):
    df = module_frame(report, 1)
    assert list(df["module"]) == ["", "stem", "head"]
    assert df.set_index("module").loc["stem", "macs_share_pct"] == pytest.approx(60.0)
    sub = module_frame(report, None, root="stem")
    assert list(sub["module"]) == ["stem", "stem.conv", "stem.relu"]
    assert sub.set_index("module").loc["stem.conv", "macs_share_pct"] == pytest.approx(500 / 6)


def test_self_costs_add_up_to_the_model(report):
    sf = self_frame(report, conventions=["fvcore"])
    assert sf["macs"].sum() == report.totals["macs"]
    assert sf["latency_ms"].sum() == pytest.approx(report.timing["op_ms"])
    assert sf.set_index("module").loc["", "macs"] == 100  # the root's functional op
    assert sf["macs[fvcore]"].sum() == report.totals["fvcore"]


def test_top_modules_rank_by_self_cost(report):
    top = top_modules(report, "macs", n=2)
    assert list(top["module"]) == ["stem.conv", "head"]
    assert top["macs_share_pct"].iloc[0] == pytest.approx(50.0)
    top = top_modules(report, "latency_ms", n=5)
    assert list(top["module"]) == ["stem.conv", "head", "", "stem", "stem.relu"]  # by self time
    assert top["latency_share_pct"].iloc[0] == pytest.approx(100 * 3.0 / 9.0)  # of end to end


def test_stage_frame_lists_top_level_and_own_ops(report):
    sf = stage_frame(report)
    assert list(sf["stage"]) == ["stem", "head", "(the model's own operators)",
                                 "framework overhead (between operators)"]
    assert sf["macs"].sum() == report.totals["macs"]
    # the stages, the model's own operators and the overhead add up to the end-to-end time
    assert sf["latency_ms"].sum() == pytest.approx(report.totals["latency_ms"])
    assert sf["latency_ms_share_pct"].sum() == pytest.approx(100.0)
    assert (sf["latency_ms"] >= 0).all()


def test_stage_frame_never_has_a_negative_overhead(report):
    report.timing["overhead_ms"] = -2.0  # operators ran longer than the uninstrumented forward
    sf = stage_frame(report).set_index("stage")
    assert sf.loc["framework overhead (between operators)", "latency_ms"] == 0.0
    assert sf["latency_ms_share_pct"].sum() == pytest.approx(100.0)


def test_stage_plot_adds_up_to_one_hundred_percent(report):
    ax = plot_stages(report).axes[0]
    latency_bar = [p for p in ax.patches if p.get_x() + p.get_width() / 2 == pytest.approx(2)]
    assert sum(p.get_height() for p in latency_bar) == pytest.approx(100.0)
    assert all(p.get_height() >= 0 for p in ax.patches)
    assert "framework overhead (between operators)" in ax.get_legend_handles_labels()[1]
    report.row("stem").type = "Sequential"  # a plain container of stages is opened one level
    assert list(stage_frame(report)["stage"])[:3] == ["stem.conv", "stem.relu", "head"]


def test_render_formats(report):
    table = module_table(report, 2)
    lines = table.splitlines()
    assert lines[0].split()[:6] == ["module", "type", "output", "shape", "params", "trainable"]
    assert set(lines[1]) <= {"-", " "}
    assert "    conv" in table  # the tree is indented by depth
    md = module_table(report, 1, "md")
    assert md.startswith("| module |") and md.count("\n") == 2 + 3
    csv = pd.read_csv(__import__("io").StringIO(module_table(report, None, "csv")))
    assert list(csv["macs"]) == [r.macs for r in report.rows]
    records = json.loads(module_table(report, 1, "json"))
    assert records[1]["module"] == "stem" and records[1]["params"] == 40
    with pytest.raises(ValueError, match="unknown format"):
        render(pd.DataFrame({"a": [1]}), "xml")


def test_convention_columns_are_labelled(report):
    table = module_table(report, 0, conventions=["fvcore", "paper-hook"])
    assert "MACs[fvcore]" in table and "paper-hook M (2^20)" in table
    tf = totals_frame(report)
    assert list(tf["convention"]) == list(CONVS)
    assert "2^20" in " ".join(totals_lines(report))


def test_shapes_as_torchinfo_prints_them():
    from archlab.report.display import shape_text

    assert shape_text([1, 40, 64, 48]) == "[1, 40, 64, 48]"
    assert shape_text([[1, 40, 64, 48], [1, 80, 32, 24]], 1) == "([1, 40, 64, 48], [1, 80, 32, 24])"
    assert shape_text({"logits": [2, 10], "aux": None}, 3) == "{logits: [2, 10], aux: } ×3 calls"
    assert shape_text(None) == "" and len(shape_text([list(range(40))])) == 48


def test_units():
    assert si(1_130_769) == "1.13 M" and si(999) == "999" and si(None) == "n/a"
    hook, conv = TABLE["paper-hook"].describe(), TABLE["paper-conv"].describe()
    assert published(hook, 205.23 * 2 ** 20) == "205.23 M (2^20)"
    assert published(conv, 7.08 * 2 ** 30) == "7.08 G (2^30)"
    assert published(conv, 0.226 * 2 ** 30) == "0.226 G (2^30)"


# ---------------------------------------------------------------- comparisons

def test_comparison_deltas_against_spec_base():
    base = make_report("b", reported=[("coco_ap_64x48", 60.0)])
    v1 = make_report("v1", scale=1.5, base="b")
    v2 = make_report("v2", scale=0.5, base="b")
    comp = Comparison([v1, base, v2])
    df = comp.to_frame().set_index("model")
    assert list(df.index) == ["b", "v1", "v2"]  # the base first, then its variants
    assert df.loc["v1", "d_macs"] == 500 and df.loc["v1", "d_macs_pct"] == pytest.approx(50.0)
    assert df.loc["v2", "d_latency_ms"] == pytest.approx(-4.5)
    assert df.loc["v2", "d_latency_ms_pct"] == pytest.approx(-50.0)
    assert df.loc["v2", "d_params_pct"] == pytest.approx(-50.0)
    assert pd.isna(df.loc["b", "d_macs"])
    md = comp.to_markdown()
    assert "+50.0%" in md and "-50.0%" in md and "v1 changes something" in md


def unreliable(report, *reasons):
    report.timing.update(reliable=False, warnings=list(reasons or ["spread (IQR / median) 31% > 10%"]))
    return report


def test_unreliable_latency_is_flagged_in_the_comparison(tmp_path):
    calm, busy = make_report("b"), unreliable(make_report("v", base="b"))
    comp = Comparison([calm, busy])
    df = comp.to_frame().set_index("model")
    assert df.loc["b", "latency_reliable"] and not df.loc["v", "latency_reliable"]
    assert comp.to_markdown().count("⚠") == 1
    write_comparison(comp, tmp_path, {})
    assert "Latency of v (timed on its own) is not reliable: spread" in (tmp_path / "table.md").read_text()


def test_comparison_explicit_base_and_failures():
    a, b = make_report("a"), make_report("b", scale=2)
    comp = Comparison([a, b], base="a", failures={"c": "RuntimeError: boom"})
    df = comp.to_frame().set_index("model")
    assert df.loc["b", "base"] == "a" and df.loc["b", "d_params_pct"] == pytest.approx(100.0)
    assert df.loc["c", "error"] == "RuntimeError: boom"
    assert "failed" in comp.to_markdown()
    with pytest.raises(ValueError, match="not among"):
        Comparison([a, b], base="zzz")


def test_comparison_files_round_trip(tmp_path):
    reps = [make_report("b"), make_report("v", scale=2, base="b")]
    paths = {}
    for r in reps:
        paths[r.model] = r.save(tmp_path / "models" / r.model / "report.json")
    comp = Comparison(reps)
    written = write_comparison(comp, tmp_path, paths)
    assert {"table.csv", "table.md", "comparison.json", "deltas.png", "cost_scatter.png"} <= set(written)
    again = load_comparison(tmp_path)
    assert again.bases == comp.bases and list(again.reports) == ["b", "v"]
    pd.testing.assert_frame_equal(again.to_frame(), comp.to_frame())
    table = pd.read_csv(tmp_path / "table.csv")
    assert {"model", "base", "change", "params", "macs", "macs[paper-hook]", "macs[paper-conv]",
            "latency_ms", "latency_p10_ms", "latency_p90_ms", "peak_bytes", "d_macs", "d_macs_pct",
            "d_latency_ms_pct", "d_peak_bytes_pct"} <= set(table.columns)


# ---------------------------------------------------------------- paired latency

PAIR = {"ratio": 1.1234, "ratio_p10": 1.05, "ratio_p90": 1.19, "n": 15, "model_ms": 10.0,
        "base_ms": 8.9}


def test_paired_ratio_is_a_column_of_its_own(tmp_path):
    base, v = make_report("b"), make_report("v", scale=2, base="b")
    comp = Comparison([base, v], paired={"v": {"base": "b", **PAIR}})
    df = comp.to_frame().set_index("model")
    assert df.loc["v", "latency_ratio"] == 1.1234 and df.loc["v", "latency_ratio_n"] == 15
    assert pd.isna(df.loc["b", "latency_ratio"])
    md = comp.to_markdown()
    assert "latency vs base (paired)" in md.splitlines()[0]
    row = next(ln for ln in md.splitlines() if ln.startswith("| v |"))
    assert "1.12× (1.05–1.19)" in row and "18.0 (17.0–19.8)" in row  # beside the per-model median
    paths = {r.model: r.save(tmp_path / "models" / r.model / "report.json") for r in (base, v)}
    write_comparison(comp, tmp_path, paths)
    again = load_comparison(tmp_path)
    assert again.paired == comp.paired
    pd.testing.assert_frame_equal(again.to_frame(), comp.to_frame())
    table = pd.read_csv(tmp_path / "table.csv").set_index("model")
    assert table.loc["v", "latency_ratio_p90"] == 1.19
    assert "side by side" in (tmp_path / "table.md").read_text()


def test_deltas_plot_uses_the_paired_ratio_with_its_spread():
    base, v = make_report("b"), make_report("v", scale=2, base="b")
    ax = plot_deltas(Comparison([base, v], paired={"v": {"base": "b", **PAIR}})).axes[0]
    assert "latency, paired with base (bars: p10–p90 of the ratio)" in ax.get_legend_handles_labels()[1]
    assert "+12.3%" in [t.get_text() for t in ax.texts]  # the ratio, not the +100% of the medians
    bars = [c for c in ax.containers if c.get_label().startswith("latency")][0]
    lo, hi = bars.errorbar.lines[2][0].get_segments()[0][:, 0]
    assert (lo, hi) == (pytest.approx(5.0), pytest.approx(19.0))  # p10 1.05 .. p90 1.19
    ax = plot_deltas(Comparison([base, v])).axes[0]  # no paired ratio: no latency bar, never medians
    assert "n/a" in [t.get_text() for t in ax.texts] and "+100.0%" in [t.get_text() for t in ax.texts]


def test_plots_say_what_was_compared_and_mark_reference_models():
    a, b = make_report("a"), make_report("b", scale=2)  # two reference models (no spec base)
    models = Comparison([a, b], base="a", paired={"b": {"base": "a", **PAIR}})
    assert not models.is_of_variants() and models.to_frame()["reference"].all()
    assert plot_deltas(models).axes[0].get_title().startswith("Each model against a")
    scatter = plot_cost_scatter(models).axes[0]
    assert "of models" in scatter.get_title()
    assert "a variant" not in " ".join(scatter.get_legend_handles_labels()[1])
    variants = Comparison([a, make_report("v", base="a")])
    assert variants.is_of_variants() and list(variants.to_frame()["reference"]) == [True, False]
    assert plot_deltas(variants).axes[0].get_title().startswith("What each design choice costs")


def test_unreliable_paired_ratio_is_flagged():
    base, v = make_report("b"), make_report("v", base="b")
    shaky = {"base": "b", **PAIR, "reliable": False, "warnings": ["CPU share 40% < 80%"]}
    comp = Comparison([base, v], paired={"v": shaky})
    text = comparison_markdown(comp)
    assert "Paired latency of v against b is not reliable: CPU share 40% < 80%" in text
    assert "1.12× (1.05–1.19) ⚠" in text
    assert "⚠ paired latency not reliable for v" in plot_deltas(comp).axes[0].get_title()


# ---------------------------------------------------------------- files and plots

def test_write_report_files_and_summary(report, tmp_path):
    paths = write_report(report, tmp_path / "toy")
    assert set(paths) == {"report.json", "modules.csv", "summary.md", "stages.png", "top_modules.png",
                          "macs_vs_latency.png", "table.tex"}
    for p in paths.values():
        assert p.stat().st_size > 0
    md = (tmp_path / "toy" / "summary.md").read_text()
    for needle in ("# toy", "## Environment", "Why they differ", "paper-hook", "fvcore", "test-cpu",
                   "![", "stages.png", "aten.weird", "Top modules", "Reported by the authors"):
        assert needle in md, needle
    csv = pd.read_csv(tmp_path / "toy" / "modules.csv")
    assert len(csv) == len(report.rows) and "macs[paper-conv]" in csv.columns


def test_no_latency_report_writes_and_plots(tmp_path):
    r = make_report(latency=False)
    paths = write_report(r, tmp_path / "nl")
    assert "macs_vs_latency.png" not in paths and "stages.png" in paths
    assert "not measured" in (tmp_path / "nl" / "summary.md").read_text()


def test_plots_say_settings_and_units(report):
    for make in (plot_stages, plot_top_modules, plot_macs_vs_latency):
        fig = make(report)
        text = " ".join([fig._suptitle.get_text() if fig._suptitle else ""]
                        + [ax.get_title() for ax in fig.axes])
        assert "input 3x64x48, batch 1, cpu" in text and "1 threads" in text
        labels = " ".join(ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes)
        assert "%" in labels or "ms" in labels
    comp = Comparison([report, make_report("v", scale=2, base="toy")])
    for make in (plot_deltas, plot_cost_scatter):
        fig = make(comp)
        ax = fig.axes[0]
        assert "input 3x64x48" in ax.get_title()
    scatter = plot_cost_scatter(comp).axes[0]
    assert "MACs [archlab]" in scatter.get_xlabel() and "ms" in scatter.get_ylabel()
    assert any("AP 50.0 (reported)" in t.get_text() for t in scatter.texts)
    assert reported_ap(report) == ("", 50.0)


def test_unreliable_latency_is_flagged_everywhere(tmp_path):
    r = unreliable(make_report("toy"), "CPU share 41% < 80% (other work took the cores)")
    flag = "⚠ latency not reliable: CPU share 41% < 80%"
    assert totals_lines(r)[0].startswith(flag)
    write_report(r, tmp_path / "r")
    md = (tmp_path / "r" / "summary.md").read_text()
    assert md.splitlines()[2].startswith("> **" + flag)  # at the top, under the title
    for make in (plot_stages, plot_top_modules, plot_macs_vs_latency):
        fig = make(r)
        titles = " ".join([fig._suptitle.get_text() if fig._suptitle else ""]
                          + [ax.get_title() for ax in fig.axes])
        assert flag in titles.replace("\n", " "), make.__name__
    calm = make_report("toy")
    assert "⚠" not in summary_markdown(calm) and not any("⚠" in ln for ln in totals_lines(calm))


RUNTIMES = [
    {"name": "eager", "latency_ms": 10.0, "ratio_to_eager": 1.0, "ratio_p10": 1.0, "ratio_p90": 1.0,
     "n": 20, "max_abs_diff": 0.0, "max_rel_diff": 0.0, "prepare_s": 0.0, "valid": True,
     "note": "the base of every ratio", "reliable": True, "warnings": []},
    {"name": "compile", "latency_ms": 5.6, "ratio_to_eager": 0.56, "ratio_p10": 0.5,
     "ratio_p90": 0.6, "n": 20, "max_abs_diff": 1e-6, "max_rel_diff": 2e-6, "prepare_s": 41.0,
     "valid": True, "note": "compiled in 41.0 s", "reliable": True, "warnings": []},
    {"name": "onnxruntime", "latency_ms": None, "ratio_to_eager": None, "ratio_p10": None,
     "ratio_p90": None, "n": None, "max_abs_diff": None, "max_rel_diff": None, "prepare_s": 3.0,
     "valid": False, "note": "ONNX export failed: set in output", "reliable": None, "warnings": []}]


def test_the_runtime_table_round_trips_and_is_shown(tmp_path):
    r = make_report("toy")
    r.runtimes = copy.deepcopy(RUNTIMES)
    paths = write_report(r, tmp_path / "r")
    assert load_report(tmp_path / "r").runtimes == RUNTIMES
    md = (tmp_path / "r" / "summary.md").read_text()
    assert "| compile | 5.60 | 0.56× (0.50–0.60) | 2.0 ppm | 41.0 | yes |" in md
    assert "| onnxruntime |" in md and "ONNX export failed" in md
    assert "runtimes.png" in paths


def test_writable_dir_refuses_clearly(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OSError, match="not a folder"):
        writable_dir(f)
    with pytest.raises(OSError, match="cannot create"):
        writable_dir(f / "sub")


def test_report_dict_not_mutated_by_tables(report):
    before = copy.deepcopy(report.to_dict())
    module_table(report, None)
    summary_markdown(report)
    Comparison([report]).to_frame()
    assert report.to_dict() == before
