"""Nothing lost, round 2: an unfinished run is resumed by the same command, an interrupt during the
deploy runtimes keeps what finished, an unwritable store is refused before measuring, replace means
replace, a large grid says its size first and holds one model at a time, failures are never cached
as results, and a noisy runtime row is measured again."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlab.results import load_report
from archlab.study import Measure, Store, request_key
from archlab.study.folder import OutputFolder
from test_cli import FAST, QUIET, counts, one_line
from test_report import make_report, unreliable


def _interrupt_on(monkeypatch, model_name: str):
    """Ctrl-C as soon as `model_name` starts being profiled (the others run as they are)."""
    import archlab.profile as profile_package

    real = profile_package.profile_module

    def profile_module(model, shape, **kw):
        if kw.get("model_name") == model_name:
            raise KeyboardInterrupt
        return real(model, shape, **kw)
    monkeypatch.setattr(profile_package, "profile_module", profile_module)
    return real


def test_the_same_command_resumes_an_interrupted_comparison(cli, monkeypatch):
    args = ["compare", "models", "lite18", "naive_lite18", "--out", "C", *FAST]
    real = _interrupt_on(monkeypatch, "naive_lite18")
    code, _, err = cli(*args)
    assert code == 130 and "run the same command again" in err
    assert json.loads(Path("C/comparison.json").read_text())["models"] == ["lite18"]
    monkeypatch.setattr("archlab.profile.profile_module", real)
    code, out, err = cli(*args)  # resumed, not refused as "another comparison"
    assert code == 0, err
    assert counts(err) == (1, 1)
    assert json.loads(Path("C/comparison.json").read_text())["models"] == ["lite18", "naive_lite18"]


def test_a_resumed_run_reuses_its_own_flagged_results_and_no_one_elses(tmp_path):
    out = tmp_path / "C"
    with OutputFolder(out, kind="comparison", names=["a", "b"]) as first:
        assert first.resumed_since is None  # a new run
        (out / "table.md").write_text("what finished before Ctrl-C")
    st = Store(tmp_path / "store")
    key = request_key({"name": "a"}, (3, 64, 48), 1, Measure(threads=1))
    st.save(unreliable(make_report("a")), key)  # measured, flagged, by the unfinished run
    with OutputFolder(out, kind="comparison", names=["b", "a"]) as again:
        since = again.resumed_since
        assert since is not None
        assert st.lookup("a", key, since=since) is not None
        assert st.lookup("a", key) is None  # another run measures a flagged latency again
        again.finish()
    with OutputFolder(out, kind="comparison", names=["a", "b"]) as after:
        assert after.resumed_since is None  # a finished run is not resumed
    assert st.lookup("a", key, since=since + 3600) is None  # saved before that run started


def test_ctrl_c_while_preparing_a_runtime_keeps_counts_and_timing(cli, monkeypatch):
    import archlab.profile.deploy.runtimes as runtimes

    args = ["profile", "lite18", "--input", "64x64", "--convention", "archlab", "--budget", "0.2",
            "--runtime", "fused", "--out", "R", "--threads", "1", *QUIET]
    real = runtimes.profile_runtimes

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(runtimes, "profile_runtimes", interrupted)
    code, _, err = cli(*args)
    assert code == 130 and "nothing had finished" not in err, err
    partial = load_report(Path("R"))
    assert not partial.complete and partial.totals["macs"] > 0 and partial.totals["latency_ms"] > 0
    monkeypatch.setattr(runtimes, "profile_runtimes", real)
    code, _, err = cli(*args)
    assert code == 0, err
    assert "deploy runtimes only" in err  # counts and eager timing were not measured again
    whole = load_report(Path("R"))
    assert whole.complete and [r["name"] for r in whole.runtimes] == ["eager", "fused"]
    assert whole.totals["latency_ms"] == partial.totals["latency_ms"]


def test_an_unwritable_store_is_refused_before_measuring(cli):
    code, _, err = cli("profile", "lite18", "--store", "/proc/archlab-store", *FAST)
    assert code == 2 and "cannot write to --store /proc/archlab-store" in one_line(err)
    assert not Path("reports/lite18").exists()  # no empty folder left behind


def test_replace_means_replace(cli):
    code, _, err = cli("compare", "models", "lite18", "naive_lite18", "--out", "X", *FAST)
    assert code == 0, err
    code, _, err = cli("profile", "lite18", "--out", "X", "--replace", *FAST)
    assert code == 0, err
    left = {p.name for p in Path("X").iterdir()}
    assert "report.json" in left
    assert not left & {"comparison.json", "table.md", "table.csv", "models"}
    code, out, _ = cli("show", "X")
    assert code == 0 and "lite18" in out and "naive_lite18" not in out


def test_a_large_grid_says_its_size_first_and_waits_to_be_confirmed(monkeypatch, tmp_path):
    import archlab.study.sweeping as sweeping
    from archlab import study
    from archlab.common import UsageError

    monkeypatch.setattr(sweeping, "LARGE_SWEEP", 3)
    said, asked = [], []
    common = dict(inputs="64x64", latency=False, conventions=["archlab"], progress=False,
                  store=tmp_path / "store", log=said.append)
    with pytest.raises(UsageError, match="not started; pass --yes"):
        study.sweep("dite18", ["context=dcm,crw", "num_kernels=4-4-2-1,1-1-1-1"],
                    tmp_path / "S", confirm=lambda text: asked.append(text) or False, **common)
    assert asked and asked[0].startswith("4 points: about ") and "MiB of reports" in asked[0]
    assert said[0] == asked[0] and not (tmp_path / "S").exists()


def test_planning_a_sweep_holds_no_model(monkeypatch):
    from archlab.study.grid import Point
    from archlab.study.points import plan_points

    points = [Point(n, n, (3, 64, 64), 1) for n in ("lite18", "dite18", "naive_lite18")]
    jobs, invalid = plan_points(points, Measure())
    assert not invalid and all(job.model is None for job in jobs.values())
    assert jobs["dite18"].built() is not None  # made again when measured


def test_a_pair_that_could_not_be_timed_is_a_failure_never_a_stored_result(tmp_path, monkeypatch):
    import archlab.profile.deploy.pairs as pairs
    from archlab.study.options import Policy
    from archlab.study.planning import plan
    from archlab.study.points import pair_item
    from archlab.study.run import run
    from archlab.study.store import pair_key

    monkeypatch.setattr(pairs, "paired_runtime_latency", lambda *a, **k: {
        "ratio": None, "reliable": None, "note": "model: could not prepare: export failed"})
    measure = Measure(conventions=("archlab",), threads=1)
    model, base = plan(["lite18_sk", "lite18"], measure, input_size="64x64")
    st = Store(tmp_path)
    item = pair_item("lite18_sk", model, base, st, measure, Policy(log=lambda m: None),
                     runtime="onnxruntime")
    tally = run([item], progress=False, log=lambda m: None)
    assert "could not prepare" in tally.failures["lite18_sk"] and not tally.measured
    key = pair_key(model.key, base.key, "onnxruntime")
    assert not st.pair_path("lite18_sk", "lite18", key).exists()
    st.save_pair("lite18_sk", "lite18", key, {"ratio": None, "reliable": None})  # an old store's
    assert st.lookup_pair("lite18_sk", "lite18", key, keep_noisy=True) is None


def test_a_noisy_runtime_row_is_measured_again(tmp_path):
    st = Store(tmp_path)
    key = request_key({"name": "a"}, (3, 64, 48), 1,
                      Measure(threads=1, runtimes=("eager", "fused")))
    report = make_report("a")
    report.runtimes = [{"name": "eager", "reliable": True}, {"name": "fused", "reliable": False}]
    st.save(report, key)
    assert st.lookup("a", key) is None
    assert st.lookup("a", key, keep_noisy=True) is not None


def test_an_internal_failure_is_not_called_the_users_mistake(cli, monkeypatch):
    import archlab.report.files as files

    def broken(*a, **k):
        raise RuntimeError("a plotting library failed\nwith a long story")
    monkeypatch.setattr(files, "write_report", broken)
    code, _, err = cli("profile", "lite18", "--out", "P", *FAST)
    line = one_line(err)
    assert code == 1 and "internal error: RuntimeError: a plotting library failed" in line
    log = Path(line.rsplit("the traceback is in ", 1)[1])
    assert "Traceback" in log.read_text() and "write_report" not in line
    assert list(Path("reports/store/reports/lite18").glob("*/report.json"))  # the count is kept
