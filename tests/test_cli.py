"""The `archlab` command: exit codes, what it prints, the files it writes, resume, and one clear line
for every user mistake. In-process through `main(argv)`; real processes only where the process is
the point (two writers at once, signals, the installed entry point). Small inputs, counting only
(no fvcore or thop, which trace slowly), latency only where latency is under test."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from archlab.report.compare import load_comparison
from archlab.results import load_report

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--no-progress"]
FAST = ["--input", "64x64", "--no-latency", "--convention", "archlab,paper-hook", *QUIET]


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("archlab: ") and "Traceback" not in err, err
    return lines[0]


def counts(err: str) -> tuple[int, int]:
    found = re.search(r"measured (\d+), reused (\d+)", err)
    assert found, err
    return int(found[1]), int(found[2])


# ---------------------------------------------------------------- list / profile / show

def test_list_shows_models_and_variants_from_the_specs(cli, monkeypatch):
    from archlab.models.hrnet import HRSpec

    code, out, _ = cli("list")
    assert code == 0 and "dite18" in out and "hrnet_w32" in out and "1.19 M" in out
    variant = next(ln for ln in out.splitlines() if ln.startswith("dite18_nodcm"))
    assert "dite18" in variant.split()[3:5] and "removed" in variant
    # a second listing builds no model: counts come from golden numbers or the cache
    monkeypatch.setattr(HRSpec, "build", lambda self: pytest.fail("built a model to list it"))
    code, again, _ = cli("list")
    assert code == 0 and again == out
    code, out, _ = cli("list", "lite1*")
    assert code == 0 and "dite18" not in out and "lite18_sk" in out


def test_profile_prints_table_writes_files_and_reuses_the_store(cli):
    args = ["profile", "lite18", "--input", "64x64", "--convention", "archlab,paper-hook,paper-conv",
            "--depth", "1", "--budget", "0.3", *QUIET]
    code, out, err = cli(*args)
    assert code == 0, err
    head = out.splitlines()[0].split()
    assert head[:7] == ["module", "type", "output", "shape", "params", "trainable", "MACs[archlab]"]
    assert "self" in head and "[1, 17, 16, 16]" in out.splitlines()[2]  # lite18's heatmaps
    assert "  stem" in out and "latency (whole model" in out and "framework overhead" in out
    folder = Path("reports/lite18")
    for f in ("report.json", "modules.csv", "summary.md", "stages.png", "top_modules.png",
              "macs_vs_latency.png"):
        assert (folder / f).stat().st_size > 0, f
    report = load_report(folder)
    assert report.model == "lite18" and report.input["shape"] == [3, 64, 64] and report.complete
    assert len(pd.read_csv(folder / "modules.csv")) == len(report.rows)
    assert "Why they differ" in (folder / "summary.md").read_text()
    code, _, err = cli(*args, "--keep-noisy")  # reused, even if this busy machine made it noisy
    assert code == 0 and counts(err) == (0, 1)
    code, out, err = cli(*args[:-1], "--no-latency", "--batch", "2", "--format", "csv", *QUIET)
    assert code == 0 and counts(err) == (1, 0)  # another key: measured
    assert {"module", "params", "macs", "self_ms", "macs_share_pct"} <= set(
        pd.read_csv(__import__("io").StringIO(out)).columns)


def test_show_prints_a_saved_report_in_every_format(cli):
    assert cli("profile", "lite18", *FAST)[0] == 0
    code, out, _ = cli("show", "reports/lite18", "--format", "json", "--depth", "0")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 1 and rows[0]["params"] == 1130769
    code, out, _ = cli("show", "reports/lite18", "--root", "stem", "--depth", "1")
    assert code == 0 and out.splitlines()[2].startswith("stem")


def test_unreliable_latency_shows_a_warning_in_the_cli(cli):
    from test_report import make_report, unreliable

    unreliable(make_report("toy"), "CPU share 35% < 80%").save(Path("noisy/report.json"))
    code, out, _ = cli("show", "noisy")
    assert code == 0 and "⚠ latency not reliable: CPU share 35% < 80%" in out


@pytest.mark.parametrize("args, needle", [
    (["profile", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["profile", "Dite81"], "did you mean 'dite18'"),
    (["profile", "lite18", "--input", "12xab"], "--input must be HxW"),
    (["profile", "lite18", "--input", "0x64"], "--input must be HxW"),
    (["profile", "lite18", "--device", "tpu"], "unknown device"),
    (["profile", "lite18", "--convention", "fvcor"], "did you mean 'fvcore'"),
    (["profile", "lite18", "--batch", "0"], "--batch"),
    (["profile", "lite18", "--out", "/proc/archlab-cannot-write"], "--out"),
    (["profile", "lite18", "--cuda-graph"], "--cuda-graph needs --device cuda"),
    (["profile", "lite18", "--budget", "0"], "--budget must be a positive number of seconds"),
    (["compare", "models", "lite18", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["compare", "variants", "--base", "sknet50"], "no registered variant"),
    (["list", "zzz*"], "no model matches"),
    (["show", "missing-folder"], "no report at"),
])
def test_user_mistakes_print_one_line(cli, args, needle):
    code, out, err = cli(*args, *(QUIET if args[0] in ("profile", "compare") else []))
    assert code == 2 and needle in one_line(err) and out == ""


def test_cuda_without_a_gpu_is_one_line(cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: cuda is not a mistake here")
    code, _, err = cli("profile", "lite18", "--device", "cuda", *QUIET)
    assert code == 2 and "no CUDA GPU" in one_line(err)


# ---------------------------------------------------------------- comparisons

def test_compare_models_resumes_and_measures_only_what_is_missing(cli):
    args = ["compare", "models", "lite18", "naive_lite18", *FAST]
    code, out, err = cli(*args)
    assert code == 0 and counts(err) == (2, 0), err
    out_dir = Path("reports/compare/lite18+naive_lite18")
    for f in ("table.csv", "table.md", "comparison.json", "deltas.png", "cost_scatter.png"):
        assert (out_dir / f).stat().st_size > 0, f
    table = pd.read_csv(out_dir / "table.csv")
    assert list(table["model"]) == ["lite18", "naive_lite18"]
    assert table.loc[1, "base"] == "lite18" and table.loc[1, "d_params"] == 760365 - 1130769
    assert "paired latency" not in err  # --no-latency
    assert counts(cli(*args)[2]) == (0, 2)
    comp = load_comparison(out_dir)
    assert list(comp.reports) == ["lite18", "naive_lite18"]


def test_compare_pairs_each_variant_with_its_base_and_reuses_pairs(cli):
    args = ["compare", "variants", "--base", "hrnet_w32", "--input", "64x64", "--convention",
            "archlab", "--budget", "0.3", *QUIET]  # two variants: two pairs
    code, _, err = cli(*args)
    assert code == 0, err
    assert re.search(r"paired latency: timed 2, reused 0", err), err
    out_dir = Path("reports/variants/hrnet_w32")
    table = pd.read_csv(out_dir / "table.csv").set_index("model")
    paired = table[table["base"] == "hrnet_w32"]
    assert len(paired) == 2 and paired["latency_ratio"].gt(0).all()
    assert paired["latency_ratio_n"].ge(3).all() and pd.isna(table.loc["hrnet_w32", "latency_ratio"])
    assert "latency vs base (paired)" in (out_dir / "table.md").read_text()
    code, _, err = cli(*args, "--keep-noisy")  # nothing missing: the pairs are reused too
    assert code == 0 and counts(err)[0] == 0 and re.search(r"timed 0, reused 2", err), err


def test_a_crash_in_one_model_is_recorded_and_the_rest_go_on(cli, monkeypatch):
    from archlab.models.hrnet import HRNet

    def broken(self, x):
        raise RuntimeError("simulated failure")
    monkeypatch.setattr(HRNet, "forward", broken)
    code, _, err = cli("compare", "models", "sknet50", "lite18", *FAST)
    assert code == 1 and "Traceback" not in err and "lite18: failed" in err
    table = pd.read_csv(Path("reports/compare/sknet50+lite18/table.csv")).set_index("model")
    assert "simulated failure" in table.loc["lite18", "error"]
    assert pd.isna(table.loc["sknet50", "error"])


# ---------------------------------------------------------------- the table of conventions

def test_a_convention_added_to_the_table_shows_everywhere(cli, monkeypatch):
    from archlab.profile.count.conventions import TABLE, Convention

    monkeypatch.setitem(TABLE, "conv-only", Convention(
        "conv-only", rule="multiply-adds of convolutions only", computed_by="dispatch",
        divisor=1e6, published="M (1e6)", selects=lambda cat, op, linear: cat == "conv"))
    args = ["--input", "64x64", "--no-latency", "--convention", "archlab,conv-only", *QUIET]
    code, out, err = cli("profile", "lite18", *args, "--depth", "0")
    assert code == 0, err
    assert "conv-only M (1e6)" in out.splitlines()[0]  # the module table's column
    csv = pd.read_csv("reports/lite18/modules.csv")
    report = load_report("reports/lite18")
    assert csv["macs[conv-only]"].iloc[0] == report.count("conv-only")  # the model's row
    assert report.count("conv-only") == report.coverage["categories"]["archlab"]["conv"]
    summary = Path("reports/lite18/summary.md").read_text()
    assert "| conv-only |" in summary and "multiply-adds of convolutions only" in summary
    code, _, err = cli("compare", "models", "lite18", "naive_lite18", *args)
    assert code == 0, err
    folder = Path("reports/compare/lite18+naive_lite18")
    head = next(ln for ln in (folder / "table.md").read_text().splitlines() if ln.startswith("| model"))
    assert "conv-only M (1e6)" in head
    assert "d_macs[conv-only]_pct" in pd.read_csv(folder / "table.csv").columns


# ---------------------------------------------------------------- deploy runtimes

def test_profile_and_compare_under_a_deploy_runtime(cli):
    args = ["--input", "64x64", "--convention", "archlab", "--runtime", "fused", "--budget", "0.3",
            *QUIET]
    code, _, err = cli("profile", "lite18", *args, "--depth", "0")
    assert code == 0, err
    report = load_report("reports/lite18")
    assert [r["name"] for r in report.runtimes] == ["eager", "fused"]
    fused = report.runtimes[1]
    assert fused["valid"] and fused["max_rel_diff"] <= 1e-4 and "204 of 204 BNs folded" in fused["note"]
    assert Path("reports/lite18/runtimes.png").stat().st_size > 0
    assert "| fused |" in Path("reports/lite18/summary.md").read_text()
    code, _, err = cli("compare", "models", "lite18", "naive_lite18", *args)
    assert code == 0, err
    folder = Path("reports/compare/lite18+naive_lite18")
    table = pd.read_csv(folder / "table.csv").set_index("model")
    assert table.loc["naive_lite18", "latency_ratio[fused]"] > 0
    assert bool(table.loc["naive_lite18", "latency_ratio_valid[fused]"])
    assert "latency vs base under fused (paired)" in (folder / "table.md").read_text()
    assert (folder / "runtime_deltas.png").stat().st_size > 0


@pytest.mark.parametrize("args, needle", [
    (["--runtime", "fusd"], "unknown runtime 'fusd'; did you mean 'fused'"),
    (["--runtime", "fused", "--no-latency"], "cannot go with --no-latency"),
])
def test_bad_runtime_requests_are_one_line(cli, args, needle):
    code, out, err = cli("profile", "lite18", *args, *QUIET)
    assert code == 2 and needle in one_line(err) and out == ""


# ---------------------------------------------------------------- training profiles

def test_a_training_profile_and_comparison(cli):
    args = ["--input", "64x64", "--mode", "train", "--batch", "2", "--budget", "0.3", *QUIET]
    code, out, err = cli("profile", "lite18", *args, "--depth", "0")
    assert code == 0, err
    assert "MACs bwd per batch of 2" in out.splitlines()[0] and "training step: MACs forward" in out
    report = load_report("reports/lite18")
    assert report.input["mode"] == "train" and report.totals["macs_backward"] > 0
    assert set(report.conventions) == {"archlab", "paper-hook", "paper-conv", "torchvision"}
    summary = Path("reports/lite18/summary.md").read_text()
    assert "memory saved for backward" in summary and "| step ms |" in summary
    assert Path("reports/lite18/training.png").stat().st_size > 0
    code, _, err = cli("compare", "models", "lite18", "lite18_cp", *args, "--no-latency", "--out", "cp")
    assert code == 0, err
    table = pd.read_csv("cp/table.csv").set_index("model")
    assert table.loc["lite18_cp", "d_saved_bytes"] < 0 < table.loc["lite18_cp", "d_macs_backward"]
    assert "saved for backward MiB" in Path("cp/table.md").read_text()


@pytest.mark.parametrize("args, needle", [
    (["--mode", "train", "--convention", "fvcore"], "fvcore count inference only"),
    (["--sgd"], "--sgd adds an optimizer step to a training step: it needs --mode train"),
    (["--mode", "train", "--cuda-graph", "--device", "cpu"], "--cuda-graph needs --device cuda"),
])
def test_bad_training_requests_are_one_line(cli, args, needle):
    code, out, err = cli("profile", "lite18", *args, *QUIET)
    assert code == 2 and needle in one_line(err) and out == ""
