"""Every figure archlab writes, as it writes it, held to one layout rule (plots/defects.py): no
text clipped by the figure, no two texts overlapping, no error bar through a label, no leader lines
crossing, no tick label repeated. The figures come from real runs — a profile with a deploy
runtime, a training step, a comparison paired under eager and a runtime, a sweep and the merge of
its store — on a small input with a short timing budget (the numbers are not under test, the
figures drawn from them are). Then the defects readers found, each where it was: an AP shown at an
input it was not reported at, a runtime's ratio that did not say which ratio, training bars that
did not add up to the step, numbers in scientific notation."""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

import archlab.report.plots as plots
from archlab import study
from archlab.report import load_report
from archlab.report.plots import reported_ap, text_defects
from archlab.report.plots.labels import place_labels
from archlab.report.plots.toolkit import SITicks, figure, finish

SMALL = (3, 64, 64)
FIGURES = {"p": ["stages.png", "top_modules.png", "macs_vs_latency.png", "roofline.png",
                 "runtimes.png"],
           "t": ["training.png", "stages.png", "top_modules.png", "roofline.png"],
           "c": ["deltas.png", "cost_scatter.png", "runtime_deltas.png", "roofline.png"],
           "s": ["pareto.png", "deltas.png", "cost_scatter.png"],
           "m": ["pareto.png"]}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """folder -> {file name: (figure, its defects as saved)}, for every figure the runs wrote,
    caught at archlab.report.plots.save (the one door every figure leaves by)."""
    root = tmp_path_factory.mktemp("figures")
    fast = dict(threads=1, budget_s=0.1, op_passes=2, store=root / "store", progress=False,
                log=lambda m: None)
    written: dict = {}
    real_save = plots.save

    def save(fig, path, dpi=110):
        out = real_save(fig, path, dpi)
        written.setdefault(path.parent.name, {})[path.name] = (fig, text_defects(fig))
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "save", save)
        study.profile_to("dite18", root / "p", input_size=SMALL, runtimes=("eager", "fused"),
                         **fast)
        study.profile_to("dite18", root / "t", input_size=(3, 32, 32), batch=2, mode="train",
                         **fast)
        study.compare(["dite18", "dite18_crw"], root / "c", input_size=SMALL,
                      runtimes=("eager", "fused"), **fast)
        study.sweep("dite18", ["context=dcm,crw"], root / "s", inputs="64x64,32x32", **fast)
        study.merge([root / "store"], root / "m", log=lambda m: None)
    return root, written


@pytest.mark.parametrize("where,name", [(w, n) for w, names in FIGURES.items() for n in names])
def test_every_figure_is_laid_out_without_clipped_or_overlapping_text(made, where, name):
    root, written = made
    assert (root / where / name).stat().st_size > 0
    fig, defects = written[where][name]
    assert defects == [], f"{where}/{name}: {defects}"


def _texts(fig: Figure) -> list[str]:
    fig.draw_without_rendering()
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def test_no_number_is_written_in_scientific_notation(made):
    _, written = made
    for where, figs in written.items():
        for name, (fig, _) in figs.items():
            bad = [t for t in _texts(fig) if re.search(r"\d[eE][+-]?\d|\^\{", t)]  # 1e+03, 10^{3}
            assert not bad, f"{where}/{name}: {bad}"


def test_an_ap_is_shown_only_at_the_input_it_was_reported_at(made):
    root, written = made
    report = load_report(root / "p" / "report.json")
    assert reported_ap(report) is None  # dite18's AP was reported at 256x192, not 64x64
    at_own = copy.deepcopy(report)
    at_own.input["shape"] = [3, 256, 192]
    assert reported_ap(at_own) == ("", 65.9)
    for where in ("s", "m"):  # every point measured at 64x64 or 32x32: no AP label
        fig = written[where]["pareto.png"][0]
        assert not [t.get_text() for ax in fig.axes for t in ax.texts if "AP" in t.get_text()]


def test_the_runtime_plot_names_the_ratio_it_shows(made):
    root, written = made
    report = load_report(root / "p" / "report.json")
    fig = written["p"]["runtimes.png"][0]
    ax = fig.axes[0]
    fused = next(r for r in report.runtimes if r["name"] == "fused")
    bars = {round(p.get_width(), 6) for p in ax.patches}
    assert round(fused["latency_ms"], 6) in bars  # the bar is the runtime's own median
    label = next(t.get_text() for t in ax.texts if "paired ratio" in t.get_text())
    assert f"paired ratio {fused['ratio_to_eager']:.2f}×" in label
    assert "median over rounds of runtime / eager" in ax.get_xlabel().replace("\n", " ")


def test_training_step_bars_add_up_to_the_measured_step(made):
    root, written = made
    report = load_report(root / "t" / "report.json")
    right = written["t"]["training.png"][0].axes[1]
    total = sum(p.get_width() for p in right.patches)
    assert total == pytest.approx(report.totals["latency_ms"], rel=0.01)
    assert "add up to the step's median" in right.get_title().replace("\n", " ")


# ------------------------------------------------ the rule itself, on figures made to break it

def test_text_defects_finds_each_kind_of_defect():
    fig = figure(4, 3)
    ax = fig.add_subplot()
    ax.set_title("a title far too long to fit the figure " * 3)
    ax.text(0.5, 0.5, "one", transform=ax.transAxes)
    ax.text(0.5, 0.5, "two", transform=ax.transAxes)
    ax.errorbar([0.2], [0.2], xerr=[[0.2], [0.2]])
    ax.text(0.2, 0.2, "crossed", ha="center", va="center")
    line = dict(arrowstyle="-")
    ax.annotate("p", (0.1, 0.9), xytext=(0.9, 0.6), arrowprops=line)
    ax.annotate("q", (0.9, 0.9), xytext=(0.1, 0.6), arrowprops=line)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0f}")
    found = " | ".join(text_defects(fig))
    for kind in ("clipped by the figure: 'a title", "overlap: 'one' and 'two'",
                 "error bar through 'crossed'", "leader lines cross: 'p' and 'q'",
                 "tick label '0' repeated on the y axis"):
        assert kind in found, kind
    finish(fig)  # titles wrapped: the title is no longer clipped
    assert not any(d.startswith("clipped") for d in text_defects(fig))


def test_tick_labels_have_the_digits_that_tell_them_apart():
    ticks = SITicks()
    ticks.set_locs([1_186_200, 1_186_400, 1_186_600])
    assert [ticks(v) for v in (1_186_200, 1_186_400)] == ["1.1862 M", "1.1864 M"]
    ticks.set_locs([1e6, 2e6, 5e6])
    assert ticks(2e6) == "2 M"
    log = SITicks(log=True)
    log.set_locs([5e-5, 1e-4])
    assert log(5e-5) == "0.00005" and log(0) == ""


def test_labels_without_a_free_place_are_left_out_and_counted():
    fig = figure(3, 2.5)
    ax = fig.add_subplot()
    ax.set_xlim(0, 2)
    ax.set_ylim(0, 2)
    crowd = [(0.4 + 0.03 * i, 1, f"a long label number {i}", False)  # 3-4 px apart
             for i in range(40)]
    place_labels(fig, {ax: crowd})
    shown = len(ax.texts)
    assert 0 < shown < 40
    assert f"{40 - shown} of 40 labels left out" in ax.get_title().replace("\n", " ")
    assert text_defects(fig) == []


def test_value_labels_sit_past_the_error_bar():
    from archlab.report.plots.labels import bar_labels

    fig = figure(5, 2)
    ax = fig.add_subplot()
    ax.barh([0], [-20], xerr=[[10], [5]])
    bar_labels(fig, ax, [(-30, 0, "-20.0% ⚠")])
    assert text_defects(fig) == []
    assert np.isclose(ax.texts[0].xy[0], -30)


def test_two_modules_never_share_a_shortened_label():
    from archlab.report.plots.toolkit import shorts

    names = ["stages.1.0.paths.2.spatial.2.convs.1.conv.aggregate",
             "stages.1.1.paths.2.spatial.2.convs.1.conv.aggregate", "stages.1.0.paths.2.a", "stem"]
    got = shorts(names, 40)
    assert len(set(got)) == len(names) and got[2:] == names[2:]
    assert all(len(g) < len(n) for g, n in zip(got[:2], names[:2]))  # still shortened
