"""The `archlab` command end to end, run as a subprocess: exit codes, what it prints, the files it
writes, resume, and one clear line for every user mistake. Small inputs, counting only (no fvcore or
thop, which trace slowly), latency only where latency is under test."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from archlab.report import load_report
from archlab.report.compare import load_comparison

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--input", "64x64", "--no-latency", "--convention", "archlab,paper-hook", "--no-progress"]


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e["OMP_NUM_THREADS"] = "1"
    return e


def archlab(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "archlab.cli", *map(str, args)], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(proc, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and lines[0].startswith("archlab: ")
    return lines[0]


def counts(stderr: str) -> tuple[int, int]:
    line = next(ln for ln in stderr.splitlines() if "measured" in ln and "reused" in ln)
    m = line.split("measured ")[1].split(",")
    return int(m[0]), int(line.split("reused ")[1].split()[0].rstrip(","))


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """One small profile written the default way: reports/lite18/ under the working folder."""
    cwd = tmp_path_factory.mktemp("cli")
    proc = archlab("profile", "lite18", "--input", "64x64", "--convention", "archlab,paper-hook,paper-conv",
                   "--depth", "1", "--no-progress", cwd=cwd)
    return cwd, proc


# ---------------------------------------------------------------- list / profile / show

def test_list_shows_models_and_variants(tmp_path):
    proc = archlab("list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "dite18" in out and "hrnet_w32" in out and "1.19 M" in out  # dite18's params
    variant = next(ln for ln in out.splitlines() if ln.startswith("dite18_nodcm"))
    assert "dite18" in variant.split()[3:5] and "removed" in variant
    proc = archlab("list", "lite1*", cwd=tmp_path)
    assert proc.returncode == 0 and "dite18" not in proc.stdout and "lite18_sk" in proc.stdout


def test_profile_prints_table_and_writes_files(profiled):
    cwd, proc = profiled
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.splitlines()[0].split()
    assert head[:4] == ["module", "type", "params", "MACs[archlab]"] and "latency" in head
    assert "  stem" in proc.stdout and "paper-hook" in proc.stdout and "latency (whole model" in proc.stdout
    folder = cwd / "reports" / "lite18"
    for f in ("report.json", "modules.csv", "summary.md", "stages.png", "top_modules.png",
              "macs_vs_latency.png", "key.json"):
        assert (folder / f).stat().st_size > 0, f
    report = load_report(folder)
    assert report.model == "lite18" and report.input["shape"] == [3, 64, 64]
    assert report.to_json() == (folder / "report.json").read_text()  # json -> Report -> json
    assert len(pd.read_csv(folder / "modules.csv")) == len(report.rows)
    md = (folder / "summary.md").read_text()
    assert "![" in md and "Why they differ" in md and "paper-conv" in md


def test_profile_rerun_reuses_and_fresh_measures(profiled):
    cwd, _ = profiled
    args = ["profile", "lite18", "--input", "64x64", "--convention", "archlab,paper-hook,paper-conv",
            "--depth", "1", "--no-progress"]
    # --keep-noisy: reused even if this busy machine made the first latency unreliable
    proc = archlab(*args, "--keep-noisy", cwd=cwd)
    assert proc.returncode == 0 and counts(proc.stderr) == (0, 1)
    proc = archlab(*args, "--batch", "2", "--no-latency", cwd=cwd)  # another key: measured again
    assert proc.returncode == 0 and counts(proc.stderr) == (1, 0)
    proc = archlab(*args[:-1], "--no-latency", "--fresh", "--batch", "2", "--format", "csv", cwd=cwd)
    assert proc.returncode == 0 and counts(proc.stderr) == (1, 0)
    df = pd.read_csv(__import__("io").StringIO(proc.stdout))
    assert {"module", "params", "macs", "flops", "macs_share_pct"} <= set(df.columns)


def test_unreliable_latency_shows_a_warning_in_the_cli(profiled, tmp_path, capsys):
    from archlab.cli import main

    cwd, _ = profiled
    report = load_report(cwd / "reports" / "lite18")
    report.timing.update(reliable=False, warnings=["CPU share 35% < 80% (other work took the cores)"])
    report.save(tmp_path / "noisy" / "report.json")
    assert main(["show", str(tmp_path / "noisy")]) == 0
    out = capsys.readouterr().out
    assert "⚠ latency not reliable: CPU share 35% < 80% (other work took the cores)" in out


def test_profile_json_format_and_show(profiled, tmp_path):
    cwd, _ = profiled
    proc = archlab("show", cwd / "reports" / "lite18", "--format", "json", "--depth", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1 and rows[0]["module"] == "" and rows[0]["params"] == 1130769
    proc = archlab("show", cwd / "reports" / "lite18", "--root", "stem", "--depth", "1", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.splitlines()[2].startswith("stem")


# ---------------------------------------------------------------- user mistakes: one line, exit 2

@pytest.mark.parametrize("args, needle", [
    (["profile", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["profile", "lite18", "--input", "12xab"], "--input must be HxW"),
    (["profile", "lite18", "--input", "0x64"], "--input must be HxW"),
    (["profile", "lite18", "--device", "cuda"], "cuda"),
    (["profile", "lite18", "--device", "tpu"], "unknown device"),
    (["profile", "lite18", "--convention", "fvcor"], "did you mean 'fvcore'"),
    (["profile", "lite18", "--batch", "0"], "--batch"),
    (["profile", "lite18", "--out", "/proc/archlab-cannot-write"], "--out"),
    (["profile", "lite18", "--bogus-flag"], "unrecognized arguments"),
    (["compare", "models", "lite18", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["compare", "variants", "--base", "sknet50"], "no registered variant"),
    (["list", "zzz*"], "no model matches"),
    (["show", "missing-folder"], "no report at"),
])
def test_user_mistakes_print_one_line(args, needle, tmp_path):
    if "--device" in args and "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present: cuda is not a mistake here")
    line = one_line_error(archlab(*args, cwd=tmp_path, timeout=120))
    assert needle in line, line


def test_input_the_model_cannot_take(tmp_path):
    proc = archlab("profile", "lite18", "--input", "100x100", "--no-latency", "--convention", "archlab",
                   "--no-progress", cwd=tmp_path)
    line = one_line_error(proc, code=1)  # the model refused it while being measured
    assert "divisible by 32" in line and "failed" in line and proc.stdout == ""


def test_unreadable_report_and_file_as_out(tmp_path):
    (tmp_path / "report.json").write_text("{ not json")
    line = one_line_error(archlab("show", tmp_path / "report.json", cwd=tmp_path))
    assert "cannot read" in line
    proc = archlab("profile", "lite18", "--out", tmp_path / "report.json", *FAST, cwd=tmp_path)
    line = one_line_error(proc)
    assert "not a folder" in line


# ---------------------------------------------------------------- compare and resume

def test_compare_models_resume_measures_only_what_is_missing(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "models", "lite18", "naive_lite18", "--out", out, *FAST]
    proc = archlab(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert counts(proc.stderr) == (2, 0)
    for f in ("table.csv", "table.md", "comparison.json", "deltas.png", "cost_scatter.png"):
        assert (out / f).stat().st_size > 0, f
    table = pd.read_csv(out / "table.csv")
    assert list(table["model"]) == ["lite18", "naive_lite18"]
    assert table.loc[1, "base"] == "lite18" and table.loc[1, "d_params"] == 760365 - 1130769
    assert table.loc[1, "d_params_pct"] == pytest.approx(100 * (760365 - 1130769) / 1130769)
    assert "| naive_lite18 | lite18 |" in (out / "table.md").read_text()

    assert "paired latency" not in proc.stderr and not (out / "pairs").exists()  # --no-latency

    proc = archlab(*args, cwd=tmp_path)  # nothing missing
    assert proc.returncode == 0 and counts(proc.stderr) == (0, 2)
    (out / "models" / "naive_lite18" / "report.json").unlink()  # one model's report lost
    proc = archlab(*args, cwd=tmp_path)
    assert proc.returncode == 0 and counts(proc.stderr) == (1, 1)
    assert "naive_lite18" not in proc.stderr.split("reusing")[1].splitlines()[0]
    comp = load_comparison(out)
    assert list(comp.reports) == ["lite18", "naive_lite18"]


def pair_counts(stderr: str) -> tuple[int, int]:
    """(timed, reused) pairs, from the last line: '...; paired latency: timed 1, reused 1 pair(s)'."""
    found = re.search(r"paired latency: timed (\d+), reused (\d+) pair", stderr)
    assert found, stderr
    return int(found[1]), int(found[2])


def test_compare_pairs_each_variant_with_its_base_and_reuses_pairs(tmp_path):
    out = tmp_path / "paired"
    args = ["compare", "variants", "--base", "hrnet_w32", "--out", out, "--input", "64x64",
            "--convention", "archlab", "--no-progress"]  # two variants: two pairs
    proc = archlab(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert pair_counts(proc.stderr) == (2, 0)
    table = pd.read_csv(out / "table.csv").set_index("model")
    paired = table[table["base"] == "hrnet_w32"]
    assert len(paired) == 2 and paired["latency_ratio"].gt(0).all()
    assert paired["latency_ratio_n"].ge(3).all() and pd.isna(table.loc["hrnet_w32", "latency_ratio"])
    md = (out / "table.md").read_text()
    assert "latency vs base (paired)" in md and "× (" in md and "side by side" in md
    assert set(json.loads((out / "comparison.json").read_text())["paired"]) == set(paired.index)

    # nothing missing: the pairs are reused too (--keep-noisy: even if this busy machine made a
    # latency unreliable, which would otherwise be measured again)
    proc = archlab(*args, "--keep-noisy", cwd=tmp_path)
    assert proc.returncode == 0 and counts(proc.stderr)[0] == 0
    assert pair_counts(proc.stderr) == (0, 2)
    next((out / "pairs").iterdir()).unlink()  # one pair lost (an interrupted run)
    proc = archlab(*args, "--keep-noisy", cwd=tmp_path)
    assert proc.returncode == 0 and pair_counts(proc.stderr) == (1, 1)


def test_compare_variants_of_one_base(tmp_path):
    from archlab.models import get_spec, list_models

    want = {n for n in list_models() if get_spec(n).base == "hrnet_w32"}
    out = tmp_path / "variants"
    proc = archlab("compare", "variants", "--base", "hrnet_w32", "--out", out,
                   "--input", "64x64", "--no-latency", "--convention", "archlab", "--no-progress",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "table.csv")
    assert set(table["model"]) == want | {"hrnet_w32"}
    assert set(table.loc[table["model"] != "hrnet_w32", "base"]) == {"hrnet_w32"}
    assert table.loc[table["model"] != "hrnet_w32", "d_macs_pct"].notna().all()


def test_a_crash_in_one_model_is_recorded_and_the_rest_go_on(tmp_path):
    out = tmp_path / "crash"
    # lite18 cannot take 64x48 (HR nets need multiples of 32); sknet50 can
    proc = archlab("compare", "models", "sknet50", "lite18", "--out", out, "--input", "64x48",
                   "--no-latency", "--convention", "archlab", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "lite18: failed" in proc.stderr
    table = pd.read_csv(out / "table.csv")
    assert "divisible by 32" in table.set_index("model").loc["lite18", "error"]
    assert (out / "models" / "sknet50" / "report.json").exists()
    assert "failed" in (out / "table.md").read_text()


def test_ctrl_c_keeps_finished_reports(tmp_path):
    out = tmp_path / "int"
    cmd = [sys.executable, "-m", "archlab.cli", "compare", "models", "naive_lite18", "lite18", "dite18",
           "--out", str(out), *FAST]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = out / "models" / "naive_lite18" / "key.json"
    deadline = time.time() + 240
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert first.exists(), "the first model never finished"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before Ctrl-C arrived")
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert [ln for ln in stderr.splitlines() if ln.startswith("archlab:")][-1].startswith("archlab: interrupted")
    assert load_report(out / "models" / "naive_lite18").model == "naive_lite18"
    proc = archlab("compare", "models", "naive_lite18", "lite18", "dite18", "--out", out, *FAST,
                   cwd=tmp_path)
    assert proc.returncode == 0 and counts(proc.stderr)[1] >= 1
