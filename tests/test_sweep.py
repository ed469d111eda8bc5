"""Design-space sweeps and merged stores: a 2x2 grid on dite18 counted and timed in process, the same
grid as submitit jobs (real processes) with one job killed mid-run and the sweep rerun, invalid
combinations as rows, one-line mistakes, and the merge of two machines' stores. Small inputs; latency
only where latency is the point (a short timing budget: the numbers are not under test, their
pairing is)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from archlab import study
from archlab.report.compare import load_comparison
from test_cli import QUIET, counts, one_line
from test_user_paths import start

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--grid", "num_kernels=4-4-2-1,1-1-1-1", "--grid", "context=dcm,crw"]
POINTS = ["dite18", "dite18@context=crw", "dite18@num_kernels=1-1-1-1",
          "dite18@num_kernels=1-1-1-1,context=crw"]  # dite18's own values make dite18 itself
COUNT = ["--input", "64x64", "--no-latency", "--convention", "archlab", *QUIET]


def stored(store: Path) -> set[str]:
    """The models the store holds a finished report of."""
    return {json.loads(p.read_text())["model"] for p in store.glob("reports/*/*/key.json")
            if json.loads(p.read_text())["complete"]}


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """The 2x2 grid with latency through the local launcher, measured once for the tests below."""
    where = tmp_path_factory.mktemp("timed")
    outcome = study.sweep("dite18", GRID[1::2], where / "out", inputs="64x64", threads=1,
                          budget_s=0.2, store=where / "store", progress=False, log=lambda m: None)
    return where, outcome


# ---------------------------------------------------------------- the local launcher

def test_a_counting_sweep_tables_every_point_against_the_base(cli):
    code, out, err = cli("sweep", "dite18", *GRID, *COUNT)
    assert code == 0 and counts(err) == (4, 0), err
    folder = next(Path("reports/sweep").glob("dite18-*"))
    table = pd.read_csv(folder / "table.csv").set_index("model")
    assert list(table.index) == POINTS
    assert table["base"].isna().tolist() == [True, False, False, False]
    assert (table.loc[POINTS[1:], "base"] == "dite18").all()
    assert table.loc["dite18@context=crw", ["num_kernels", "context"]].tolist() == ["4-4-2-1", "crw"]
    # the front in MACs and params: fewer kernels cut both; crw trades params for MACs
    assert set(table.index[table["front"]]) == {POINTS[2], POINTS[3]}
    d = table.loc[POINTS[2]]
    assert d["d_params"] == d["params"] - table.loc["dite18", "params"] < 0
    assert "Pareto front" in out  # dite18's AP was reported at 256x192: none at 64x64
    assert pd.isna(table.loc["dite18", "reported_ap"])
    for f in ("pareto.png", "sweep.md", "table.md", "comparison.json"):
        assert (folder / f).stat().st_size > 0, f
    assert set(load_comparison(folder).reports) == set(POINTS)
    code, _, err = cli("sweep", "dite18", *GRID, *COUNT)  # resumable: all reused
    assert code == 0 and counts(err) == (0, 4)


def test_a_timed_sweep_pairs_each_point_with_the_base(timed):
    where, outcome = timed
    assert outcome.ok and sorted(outcome.tally.measured) == sorted(POINTS)
    assert sorted(outcome.pairs.measured) == sorted(POINTS[1:])
    table = pd.read_csv(where / "out" / "table.csv").set_index("model")
    assert table["latency_ms"].gt(0).all() and table.loc[POINTS[1:], "latency_ratio"].gt(0).all()
    assert pd.isna(table.loc["dite18", "latency_ratio"])
    # latency on the front: the base's median times each point's paired ratio
    base_ms = table.loc["dite18", "latency_ms"]
    for name in POINTS[1:]:
        assert table.loc[name, "latency_paired_ms"] == pytest.approx(
            base_ms * table.loc[name, "latency_ratio"])
    for name, row in table.iterrows():  # on the front exactly when no other point dominates it
        others = table.drop(index=name)
        dominated = ((others["macs"] <= row["macs"])
                     & (others["latency_paired_ms"] <= row["latency_paired_ms"])
                     & ((others["macs"] < row["macs"])
                        | (others["latency_paired_ms"] < row["latency_paired_ms"]))).any()
        assert row["front"] == (not dominated), name
    pairs = list((where / "store" / "pairs").glob("*__vs__dite18/*.json"))
    assert len(pairs) == 3  # stored, so a rerun (or compare) reuses them


def test_a_sweep_at_another_thread_count_times_only_and_builds_each_spec_once(timed,
                                                                               monkeypatch):
    """Counts do not depend on threads: the same grid at 2 threads reuses the 1-thread counts and
    measures the timing only (the roofline against the 2-thread ceilings); each spec is built once
    for planning and measuring, the base's build serving every pair."""
    from collections import Counter

    from archlab.models import get_spec

    where, first = timed
    store = shutil.copytree(where / "store", where / "store2")  # the fixture's store stays as it is
    family = type(get_spec("dite18"))
    builds, real = Counter(), family.build
    monkeypatch.setattr(family, "build", lambda spec: builds.update([spec.name]) or real(spec))
    logs = []
    again = study.sweep("dite18", GRID[1::2], where / "again", inputs="64x64", threads=2,
                        budget_s=0.2, store=store, progress=False, log=logs.append)
    assert again.ok and sorted(again.tally.measured) == sorted(POINTS)
    assert sum("reusing the counts stored at 1 thread(s)" in m for m in logs) == len(POINTS), logs
    for label, report in again.tally.results.items():
        before = first.tally.results[label]
        assert [r.counts for r in report.rows] == [r.counts for r in before.rows]
        assert report.env["threads"] == 2 and report.env["machine"]["threads"] == 2
        assert report.totals["latency_ms"] > 0 and report.rows[0].attainable_ms is not None
    assert sorted(again.pairs.measured) == sorted(POINTS[1:])
    assert builds and set(builds.values()) == {1}, builds


def test_invalid_combinations_are_rows_that_say_why(cli):
    code, out, err = cli("sweep", "dite18", "--grid", "split_groups=1-1-2-4,3-3-3-3", *COUNT)
    assert code == 0 and counts(err) == (1, 0), err
    table = pd.read_csv(next(Path("reports/sweep").glob("dite18-*")) / "table.csv")
    bad = table.set_index("model").loc["dite18@split_groups=3-3-3-3"]
    assert "do not shuffle in 3 groups" in bad["error"] and pd.isna(bad["macs"])
    assert "## Invalid points" in out


def test_a_point_that_is_a_published_model_is_named_so():
    from archlab.models import get_spec
    from archlab.study.grid import parse_grid, points

    spec = get_spec("lite18")
    grid = parse_grid(spec, ["num_modules=2-4-2,3-8-3", "weighting=sw,none"])
    got = points(spec, grid, [(3, 64, 64), (3, 128, 96)], [1])
    assert [p.label for p in got[:4]] == ["lite18 64x64", "lite18@weighting=none 64x64",
                                          "lite30 64x64",
                                          "lite18@num_modules=3-8-3,weighting=none 64x64"]
    assert {p.base for p in got[4:]} == {None, "lite18 128x96"} and len(got) == 8
    assert got[2].coords == {"num_modules": "3-8-3", "weighting": "sw"}


@pytest.mark.parametrize("args, needle", [
    (["dite18", "--no-latency"], "--grid is empty"),
    (["dite18", "--grid", "kernels=1-1-1-1"], "did you mean 'num_kernels'"),
    (["dite18", "--grid", "num_blocks=two"], "'two' is not an integer"),
    (["dite18", "--grid", "context"], "is not FIELD=V1,V2"),
    (["dite18", "--grid", "context=crw", "--batch", "1,x"], "--batch takes positive integers"),
    (["dite18", "--grid", "context=crw", "--input", "64x64,0x9"], "--input must be HxW"),
    (["dite18", "--grid", "context=crw", "--slurm-partition", "gpu"], "add --launcher submitit"),
    (["dite18", "--grid", "context=crw", "--launcher", "submitit", "--slurm", "qos"], "KEY=VALUE"),
    (["dite18", "--grid", "context=crw", "--runtime", "fused"], "eager PyTorch only"),
    (["dite18", "--grid", "context=crw", "--input", "250x190"], "no point of the sweep can be built"),
])
def test_sweep_mistakes_print_one_line(cli, args, needle):
    code, out, err = cli("sweep", *args, *QUIET)
    assert code == 2 and needle in one_line(err) and out == ""
    assert not Path("reports").exists()


def test_the_submitit_launcher_without_submitit_is_one_line(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    code, _, err = cli("sweep", "dite18", *GRID, *COUNT, "--launcher", "submitit")
    assert code == 2 and one_line(err) == ("archlab: the submitit launcher needs the cluster "
                                           "extra: pip install -e '.[cluster]'")


# ---------------------------------------------------------------- submitit's local executor

def test_submitit_jobs_killed_midway_and_the_rerun_measures_only_what_is_missing(tmp_path,
                                                                                 monkeypatch):
    pytest.importorskip("submitit")
    args = ["sweep", "dite18", *GRID, *COUNT, "--threads", "1", "--launcher", "submitit-local",
            "--points-per-job", "3", "--out", "S"]  # two jobs: 3 points and 1
    proc = start(*args, cwd=tmp_path)
    jobs, deadline, killed = tmp_path / "S" / "jobs", time.time() + 300, None
    while killed is None and time.time() < deadline and proc.poll() is None:
        for log in jobs.glob("*_0_log.err"):
            if log.read_text().count(": measuring") >= 2:  # its second point has begun
                killed = _kill_task(int(log.name.split("_")[0]))
        time.sleep(0.1)
    assert killed, "no job reached its second point"
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err  # a point was not measured
    assert re.search(r"job \d+ \(\d/2\) failed", err) and "Traceback" not in err
    missing = set(POINTS) - stored(tmp_path / "reports" / "store")
    assert missing, "the killed job's last point was stored"
    table = pd.read_csv(tmp_path / "S" / "table.csv").set_index("model")
    for name in missing:
        assert "ended without finishing it" in table.loc[name, "error"]
    # the rerun (submitit again) submits only what the store lacks
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.chdir(tmp_path)
    outcome = study.sweep("dite18", GRID[1::2], "S", inputs="64x64", latency=False,
                          conventions=["archlab"], threads=1, launcher="submitit-local",
                          points_per_job=3, progress=False, log=lambda m: None)
    assert outcome.ok and set(outcome.tally.measured) == missing and outcome.jobs == 1
    assert set(outcome.tally.reused) == set(POINTS) - missing
    again = pd.read_csv(tmp_path / "S" / "table.csv").set_index("model")
    assert again["error"].isna().all() and again["macs"].gt(0).all()
    # the jobs measured what the local launcher measures
    local = study.sweep("dite18", GRID[1::2], "L", inputs="64x64", latency=False,
                        conventions=["archlab"], threads=1, store="other", progress=False,
                        log=lambda m: None)
    assert local.table.set_index("model")["macs"].to_dict() == again["macs"].to_dict()


def _kill_task(controller: int) -> int:
    """SIGKILL the process a local submitit job runs its function in (the controller's child), as
    an out-of-memory killer would."""
    children = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
    for pid in map(int, children):
        os.kill(pid, signal.SIGKILL)
    return len(children)


# ---------------------------------------------------------------- merging machines

def test_merge_keeps_each_device_apart_and_pairs_within_one(timed, tmp_path, cli):
    where, _ = timed
    other = tmp_path / "other-store"
    shutil.copytree(where / "store", other)
    for path in other.glob("reports/*/*/report.json"):  # the same specs, measured elsewhere
        data = json.loads(path.read_text())
        data["env"].update(device_name="Other CPU 9000", threads=4)
        data["totals"]["latency_ms"] *= 3
        path.write_text(json.dumps(data))
    code, out, err = cli("merge", where / "store", other, "--out", "M")
    assert code == 0, err
    table = pd.read_csv(Path("M/table.csv"))
    assert sorted(table["device"].unique()) == sorted([_cpu(where), "Other CPU 9000"])
    assert len(table) == 8 and sorted(table["point"].value_counts().unique()) == [2]
    for point, rows in table.groupby("point"):  # both measurements, side by side, never averaged
        fast, slow = sorted(rows["latency_ms"])
        assert slow == pytest.approx(3 * fast)
    by_label = table.set_index("model")
    for label, row in by_label[by_label["base"].notna()].iterrows():
        assert by_label.loc[row["base"], "device"] == row["device"]  # its base on its own device
        assert row["latency_ratio"] > 0  # the pair timed with it, in the store it came from
    assert "Other CPU 9000" in out and (Path("M") / "pareto.png").stat().st_size > 0


def _cpu(where: Path) -> str:
    report = next((where / "store").glob("reports/*/*/report.json"))
    return json.loads(report.read_text())["env"]["device_name"]


def test_merge_mistakes_print_one_line(cli, capsys):
    Path("empty").mkdir()
    code, _, err = cli("merge", "empty", "--out", "M")
    assert code == 2 and "is not a store of finished measurements" in one_line(err)
    with pytest.raises(SystemExit) as stop:  # argparse's own usage error
        cli("merge", "empty")
    assert stop.value.code == 2 and "required: --out" in one_line(capsys.readouterr().err)
