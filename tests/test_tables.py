"""Tables a reader trusts: numbers in engineering form (never 7.34e+03), a module tree that keeps its
depth once markdown is rendered, a comparison that shows only what its request measured, the
runtime table in the terminal, and a LaTeX table ready for a paper (booktabs, escaped, conventions
in the caption; compiled where pdflatex is installed). `show` of a sweep or a merge:
test_bad_input.py."""
from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from archlab.report.compare import Comparison, load_comparison
from archlab.report.compare_text import MEDIAN_HEADER, PAIRED_HEADER
from archlab.report.display import module_table, runtime_table
from archlab.report.files import comparison_markdown, write_comparison
from archlab.report.summary import summary_markdown
from archlab.report.tables import totals_lines
from test_report import RUNTIMES, make_report

SCIENTIFIC = re.compile(r"\d\.?\d*[eE][+-]\d")
QUIET = ["--no-progress", "--threads", "1"]


def big_comparison(**kwargs) -> Comparison:
    """A base and a variant large enough that paper-hook's 2^20 unit reaches thousands (a sweep
    at batch 32 does), with a runtime whose outputs differ from eager's by 2 ppm."""
    base, variant = make_report("toy", scale=1e7), make_report("toy_v", scale=1.2e7, base="toy")
    base.runtimes = [dict(r) for r in RUNTIMES]
    return Comparison([base, variant], **kwargs)


# ---------------------------------------------------------------- engineering form

def test_no_table_writes_scientific_notation():
    comp = big_comparison()
    base = comp.reports["toy"]
    texts = {"comparison": comp.to_markdown(), "table.md": comparison_markdown(comp),
             "summary.md": summary_markdown(base), "terminal": module_table(base, 2),
             "md": module_table(base, 2, "md"), "totals": "\n".join(totals_lines(base)),
             "runtimes": runtime_table(base), "latex": comp.to_latex() + base.to_latex(2)}
    assert "7629" in texts["comparison"]  # paper-hook: 0.8 x 1e10 / 2^20, not 7.63e+03
    for where, text in texts.items():
        assert not SCIENTIFIC.findall(text), (where, SCIENTIFIC.findall(text))
    assert "2.0 ppm" in texts["runtimes"]


def _rendered_cells(md: str) -> list[str]:
    """The first cell of each body row as a markdown renderer shows it: stripped, runs of
    whitespace (non-breaking spaces included) collapsed."""
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")][1:]
    return [" ".join(row.split("|")[1].split()) for row in rows]


def test_the_module_tree_keeps_its_depth_once_markdown_is_rendered():
    report = make_report("toy")
    tree = summary_markdown(report, depth=2).split("### Module tree")[1]
    for md in (module_table(report, 2, "md"), tree):
        cells = _rendered_cells(md)[:5]
        assert [c.split()[-1] for c in cells] == ["toy", "stem", "conv", "relu", "head"]
        assert [c.count("·") + c.count("└") for c in cells] == [0, 1, 2, 2, 1]
    assert "    conv" in module_table(report, 2)  # the terminal keeps plain indentation


# ---------------------------------------------------------------- what the request measured

def test_a_comparison_without_latency_shows_none_from_stored_runs(tmp_path):
    comp = big_comparison(latency=False, paired={"toy_v": {"base": "toy", "ratio": 1.2}})
    df = comp.to_frame()
    assert df[["latency_ms", "d_latency_ms", "latency_ratio"]].isna().all().all()
    md = comparison_markdown(comp)
    assert MEDIAN_HEADER not in md and PAIRED_HEADER not in md and "timed separately" not in md
    assert "Latency not measured (--no-latency)" in md
    where = {n: r.save(tmp_path / n / "report.json") for n, r in comp.reports.items()}
    write_comparison(comp, tmp_path, where, plots=False)
    again = load_comparison(tmp_path)
    assert again.latency is False and MEDIAN_HEADER not in again.to_markdown()
    assert "Latency" not in comp.to_latex()
    assert MEDIAN_HEADER in big_comparison().to_markdown()  # asked with latency: shown


def test_a_convention_only_some_models_carry_is_left_out_with_the_reason():
    comp = big_comparison()
    assert comp.to_frame()[["macs[fvcore]", "macs[thop]"]].notna().all().all()
    variant = comp.reports["toy_v"]
    for c in ("fvcore", "thop"):  # a variant counted under fewer conventions than its base
        del variant.conventions[c]
        for r in variant.rows:
            r.counts.pop(c)
    comp = Comparison(list(comp.reports.values()))
    assert "macs[fvcore]" not in comp.to_frame() and comp.partial_conventions() == {
        "fvcore": ["toy"], "thop": ["toy"]}
    md = comp.to_markdown()
    assert "MACs[fvcore] left out: counted for toy only" in md and "MACs[thop]" in md


# ---------------------------------------------------------------- LaTeX

def _body(latex: str) -> list[str]:
    return latex.split("\\midrule\n")[1].split("\\bottomrule")[0].rstrip().splitlines()


def _named(latex: str) -> list[str]:
    """The rows that name a model (a comparison puts each model's changes on a second line)."""
    return [row for row in _body(latex) if not row.startswith(" &")]


def _compiles(latex: str, where: Path) -> None:
    """pdflatex on a minimal document holding `latex` (skipped where it is not installed)."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed: the LaTeX's structure is checked, not compiled")
    doc = where / "t.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                   + latex + "\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                         cwd=where, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


def check_latex(latex: str, models: list[str]) -> None:
    """A booktabs table, one row per model, special characters escaped, ASCII only, conventions
    in the caption, no scientific notation."""
    assert latex.isascii()
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\caption{", "\\label{"):
        assert latex.count(rule) == 1, rule
    rows = _named(latex)
    assert len(rows) == len(models)
    for row, model in zip(rows, models):
        assert model.replace("_", "\\_") in row.split(" & ")[0]
    code = "\n".join(ln for ln in latex.splitlines() if not ln.startswith("%"))  # comments
    bare = re.sub(r"\\[%&_#]", "", code).replace(" & ", " ")  # escaped, and column separators
    assert not re.search(r"[%&_#]", bare), re.search(r".{30}[%&_#].{30}", bare)
    caption = code.split("\\caption{")[1]
    assert "archlab" in caption and "1 multiply-add = 1 MAC" in caption
    assert "thread" in caption and not SCIENTIFIC.search(latex)


def test_a_comparison_as_latex(tmp_path):
    comp = big_comparison(paired={"toy_v": {"base": "toy", "ratio": 1.2, "ratio_p10": 1.1,
                                            "ratio_p90": 1.3, "reliable": False}})
    latex = comp.to_latex()
    check_latex(latex, ["toy", "toy_v"])
    caption = latex.split("\\caption{")[1]
    for words in ("paper-hook", "$2^{20}$", "median (p10--p90)", "side by side", "cpu (test-cpu)",
                  "$^\\dagger$ not reliable"):
        assert words in caption, words
    base, base_spread, variant, change = _body(latex)
    assert base.startswith("\\bfseries toy") and "(85000000--99000000)" in base_spread
    assert "1.20$\\times$$^\\dagger$" in variant and "($+$20.0\\%)" in change
    _compiles(latex, tmp_path)


def test_a_report_as_latex(tmp_path):
    report = make_report("toy_model")
    latex = report.to_latex(2, conventions=["paper-hook"])
    check_latex(latex, ["toy_model", "stem", "conv", "relu", "head"])
    assert "\\quad \\quad conv" in latex and "paper-hook" in latex.split("\\midrule")[0]
    _compiles(latex, tmp_path)


# ---------------------------------------------------------------- the command

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """In one folder: lite18 profiled with a deploy runtime (every convention, latency), then
    compared with naive_lite18 without latency under two conventions (the stored lite18 is reused:
    it carries a latency and fvcore / thop counts), then under every convention (the default)."""
    from archlab.cli import main

    where = tmp_path_factory.mktemp("tables")
    got = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(where)
        mp.setenv("XDG_CACHE_HOME", str(where / "cache"))
        for key, args in {
            "profile": ["profile", "lite18", "--input", "64x64", "--runtime", "fused",
                        "--budget", "0.2", "--depth", "1"],
            "no-latency": ["compare", "models", "lite18", "naive_lite18", "--input", "64x64",
                           "--budget", "0.2", "--no-latency", "--convention",
                           "archlab,paper-hook", "--out", "C"],
            "fvcore": ["compare", "models", "lite18", "naive_lite18", "--input", "64x64",
                       "--no-latency", "--out", "F", "--format", "latex"],
        }.items():
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*args, *QUIET])
            assert code == 0, err.getvalue()
            got[key] = out.getvalue()
    return where, got


def test_profile_with_a_runtime_prints_the_runtime_table(runs):
    where, got = runs
    out = got["profile"]
    assert "Deploy runtimes" in out and re.search(r"^fused\s+\S+\s+\d\.\d\d×", out, re.M)
    assert not SCIENTIFIC.search(out) and (where / "reports/lite18/table.tex").is_file()


def test_compare_without_latency_shows_no_reused_latency(runs):
    where, got = runs
    table = pd.read_csv(where / "C/table.csv").set_index("model")
    stored = load_comparison(where / "C").reports["lite18"]
    assert stored.totals["latency_ms"] > 0  # reused from the profile, latency and all
    assert table["latency_ms"].isna().all() and "timed separately" not in got["no-latency"]
    assert "MACs[fvcore] left out: counted for lite18 only" in got["no-latency"]


def test_fvcore_and_thop_are_filled_for_every_model_by_default(runs):
    where, got = runs
    table = pd.read_csv(where / "F/table.csv")
    assert table[["macs[fvcore]", "macs[thop]"]].notna().all().all()
    assert got["fvcore"] == (where / "F/table.tex").read_text()  # printed and written alike
    check_latex(got["fvcore"], ["lite18", "naive_lite18"])


def test_compare_variants_of_dite18_as_latex_is_ready_for_a_paper(cli, tmp_path):
    code, out, err = cli("compare", "variants", "--base", "dite18", "--input", "64x64",
                         "--no-latency", "--convention", "archlab,paper-hook,paper-conv",
                         "--format", "latex", *QUIET)
    assert code == 0, err
    folder = Path("reports/variants/dite18")
    models = list(pd.read_csv(folder / "table.csv")["model"])
    assert len(models) > 5 and out == (folder / "table.tex").read_text()
    check_latex(out, models)
    _compiles(out, tmp_path)
