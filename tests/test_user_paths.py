"""The paths a user actually walks, one test per way they once lost a result or misled: the exit code,
the one line printed, and what is on disk afterwards. Concurrency and signals run real processes."""
from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from archlab.results import load_report
from test_cli import FAST, QUIET, counts, one_line

ROOT = Path(__file__).resolve().parents[1]


def start(*args, cwd):
    """`archlab ARGS` as a real process (stderr piped, to follow its progress)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "XDG_CACHE_HOME": str(cwd / "cache")}
    return subprocess.Popen([sys.executable, "-m", "archlab.cli", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc, text: str, timeout: float = 300) -> str:
    """Read the process's stderr until `text` appears (progress bars included); what was read."""
    seen, deadline = "", time.time() + timeout
    while text not in seen:
        if proc.poll() is not None or time.time() > deadline:
            raise AssertionError(f"never saw {text!r}; stderr so far: {seen[-2000:]}")
        seen += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    return seen


def last_line(stderr: str) -> str:
    return [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.startswith("archlab:")][-1]


# 1. two writers of one output folder
def test_a_second_writer_of_one_folder_stops_with_one_line(tmp_path):
    first = start("profile", "dite18", "--input", "64x64", "--out", "X", "--convention", "archlab",
                  cwd=tmp_path)
    wait_for(first, "counting")  # the folder is held from here on
    second = start("profile", "lite18", "--out", "X", *FAST, cwd=tmp_path)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 2
    assert one_line(err) == "archlab: X is being written by another archlab run; wait for it to " \
                            "finish or choose another --out"
    first.communicate(timeout=600)
    assert first.returncode == 0 and load_report(tmp_path / "X").model == "dite18"
    # once it is free, another model's report is not replaced unseen either
    again = subprocess.run([sys.executable, "-m", "archlab.cli", "profile", "lite18", "--out", "X",
                            *FAST], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert again.returncode == 2 and "X holds the report of dite18" in one_line(again.stderr)
    assert load_report(tmp_path / "X").model == "dite18"


# 2. SIGTERM during a comparison
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_tables_finished_work(tmp_path, sig):
    proc = start("compare", "variants", "--base", "lite18", "--out", "V", *FAST, cwd=tmp_path)
    store = tmp_path / "reports" / "store" / "reports"
    deadline = time.time() + 300
    while not list(store.glob("*/*/key.json")) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the comparison finished before the signal arrived")
    assert proc.returncode == 128 + sig and "Traceback" not in err
    assert last_line(err).startswith("archlab: interrupted: ") and "tabled" in last_line(err)
    done = json.loads((tmp_path / "V" / "comparison.json").read_text())["models"]
    assert done and (tmp_path / "V" / "table.md").exists()
    assert set(pd.read_csv(tmp_path / "V" / "table.csv")["model"]) == set(done)


# 3. Ctrl-C while timing keeps the counts; the next run completes the report
def test_ctrl_c_while_timing_keeps_an_incomplete_report_that_a_rerun_completes(tmp_path):
    args = ["profile", "dite18", "--input", "64x64", "--convention", "archlab", "--out", "T"]
    proc = start(*args, cwd=tmp_path)
    wait_for(proc, "timing")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert last_line(err).startswith("archlab: interrupted: the counts kept as an incomplete report")
    partial = load_report(tmp_path / "T")
    assert not partial.complete and partial.totals["macs"] > 0 and partial.totals["latency_ms"] is None
    assert "incomplete" in (tmp_path / "T" / "summary.md").read_text().splitlines()[2]
    proc = start(*args, "--no-progress", cwd=tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "completing the stored incomplete profile" in err
    whole = load_report(tmp_path / "T")
    assert whole.complete and whole.totals["macs"] == partial.totals["macs"]
    assert whole.totals["latency_ms"] > 0


# 4. one store: a comparison reuses what a profile measured
def test_compare_reuses_a_profile_measured_elsewhere(cli):
    conventions = ["--convention", "archlab,paper-hook,paper-conv"]
    assert cli("profile", "lite18", *FAST[:3], *conventions, *QUIET)[0] == 0
    code, _, err = cli("compare", "models", "lite18", "naive_lite18", *FAST[:3], *conventions,
                       *QUIET)
    assert code == 0 and counts(err) == (1, 1) and "reusing 1 stored model(s)" in err


# 5. a comparison of other models never replaces one unseen
def test_comparisons_of_different_sets_keep_their_own_folders(cli):
    assert cli("compare", "models", "lite18", "naive_lite18", *FAST)[0] == 0
    assert cli("compare", "models", "lite18", "dite18", *FAST)[0] == 0
    for name in ("lite18+naive_lite18", "lite18+dite18"):
        assert load_report(Path("reports/compare") / name / "models" / "lite18")
    code, _, err = cli("compare", "models", "lite18", "dite18", "--out",
                       "reports/compare/lite18+naive_lite18", *FAST)
    assert code == 2 and "holds a comparison of lite18, naive_lite18" in one_line(err)
    code, _, _ = cli("compare", "models", "lite18", "dite18", "--out",
                     "reports/compare/lite18+naive_lite18", "--replace", *FAST)
    assert code == 0


# 6. a bad request is refused before anything is measured, and leaves nothing behind
@pytest.mark.parametrize("args, needle", [
    (["dite18", "--input", "250x190"], "needs H and W divisible by 32"),
    (["dite18", "--input", "1x256x192"], "expects 3 input channels, got 1"),
    (["dite18@context=nonsense"], "unknown context 'nonsense'"),
])
def test_a_bad_request_is_refused_before_measuring(cli, args, needle):
    code, out, err = cli("profile", *args, "--no-latency")  # progress on: none may be drawn
    assert code == 2 and needle in one_line(err) and out == ""
    assert not Path("reports").exists()


# 7. a run that will not fit in memory is refused with the estimate
def test_a_run_that_cannot_fit_is_refused_with_its_estimate(cli):
    code, _, err = cli("profile", "dite18", "--input", "32768x32768", *QUIET)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and "estimating the memory" in lines[0]
    assert re.search(r"needs about \d+\.\d GiB .* but \d+\.\d GiB is available on cpu; .*--force",
                     lines[-1])
    assert not Path("reports").exists()


# 9. a damaged report is named, field and file, before anything is printed
@pytest.mark.parametrize("field, value, where", [(("input", "batch"), "one", "input.batch"),
                                                  (("rows", 0, "params"), "lots", "rows.0.params")])
def test_a_damaged_report_names_its_file_and_field(cli, field, value, where):
    from test_report import make_report

    data = make_report("toy").to_dict()
    target = data
    for part in field[:-1]:
        target = target[part]
    target[field[-1]] = value
    Path("bad").mkdir()
    Path("bad/report.json").write_text(json.dumps(data))
    code, out, err = cli("show", "bad")
    line = one_line(err)
    assert code == 2 and out == "" and "bad/report.json" in line and f"field {where}" in line


# 10. names match without regard to case
def test_a_name_in_another_case_is_the_model(cli):
    code, _, err = cli("profile", "Dite18", *FAST)
    assert code == 0 and load_report("reports/dite18").model == "dite18"


# 11. per-batch figures say so
def test_headers_say_per_batch(cli):
    code, out, _ = cli("profile", "lite18", *FAST, "--batch", "2", "--depth", "0")
    head = out.splitlines()[0]
    assert code == 0 and "MACs[archlab] per batch of 2" in head and "FLOPs[archlab] per batch of 2" in head
    assert "params per batch" not in head and "MACs % per batch" not in head


# 14. progress shows the phase and the progress within it, with the time left
def test_progress_shows_phases_with_time_left(cli):
    code, _, err = cli("profile", "lite18", "--input", "64x64", "--convention", "archlab",
                       "--budget", "0.3")
    assert code == 0
    for phase in ("counting", "timing the whole model and every operator"):  # one harness run
        assert f"lite18: {phase} |" in err, phase
    assert re.search(r"\d+%, \d\d:\d\d elapsed, \d\d:\d\d left", err)
