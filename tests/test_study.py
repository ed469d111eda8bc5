"""The study layer on hand-made reports and fake measurements: the store, the one run loop (reuse,
failures, Ctrl-C, incomplete profiles), checks before measuring, and output folders."""
from __future__ import annotations

import json
import signal

import pytest

from archlab.results import ProfileInterrupted
from archlab.study import Measure, OutputBusy, Store, plan, request_key
from archlab.study.folder import OutputFolder
from archlab.study.planning import estimate_bytes, parse_input
from archlab.study.run import Item, run
from test_report import make_report, unreliable


def key_for(name, batch=1, **measure):
    fields = {"conventions": ("archlab", "paper-hook"), "per_module": True, "threads": 1, **measure}
    return request_key({"name": name, "t": (1, 2)}, (3, 64, 48), batch, Measure(**fields),
                       versions={"torch": "x"})


# ---------------------------------------------------------------- the store

def test_store_lookup_matches_key_and_contents(tmp_path):
    st, r = Store(tmp_path), make_report("a")
    st.save(r, key_for("a"))
    assert st.lookup("a", key_for("a")).to_json() == r.to_json()
    assert st.lookup("a", key_for("a", batch=2)) is None
    assert st.lookup("a", key_for("a", budget_s=1.0)) is None  # timed otherwise
    # a report that holds more than is asked answers; one that holds less does not
    assert st.lookup("a", key_for("a", conventions=("archlab",), per_module=False)) is not None
    assert st.lookup("a", key_for("a", conventions=("archlab", "fvcore"))) is None
    st.save(make_report("b", latency=False), key_for("b", latency=False))
    assert st.lookup("b", key_for("b")) is None
    assert st.lookup("b", key_for("b", latency=False)) is not None
    errored = make_report("a")
    errored.notes.append("error: out of memory at batch 64")
    st.save(errored, key_for("a"))  # kept, but measured again
    assert st.lookup("a", key_for("a")) is None
    st.save(r, key_for("a"))
    (st.folder("a", key_for("a")) / "report.json").write_text("garbage")
    assert st.lookup("a", key_for("a")) is None


def test_store_measures_an_unreliable_latency_again(tmp_path):
    st = Store(tmp_path)
    st.save(unreliable(make_report("a")), key_for("a"))
    assert st.lookup("a", key_for("a")) is None
    assert st.lookup("a", key_for("a"), keep_noisy=True) is not None
    assert st.lookup("a", key_for("a", latency=False)) is not None  # its counts are fine
    pair = {"ratio": 1.1, "reliable": False, "warnings": ["spread 40% > 10%"]}
    st.save_pair("a", "b", {"k": 1}, pair)
    assert st.lookup_pair("a", "b", {"k": 1}) is None
    assert st.lookup_pair("a", "b", {"k": 1}, keep_noisy=True) == pair
    assert st.lookup_pair("a", "b", {"k": 2}, keep_noisy=True) is None


def test_an_incomplete_report_is_found_for_completion_only(tmp_path):
    st, r = Store(tmp_path), make_report("a", latency=False)
    r.complete = False
    st.save(r, key_for("a"))
    assert st.lookup("a", key_for("a", latency=False)) is None
    assert st.partial("a", key_for("a")).to_json() == r.to_json()


# ---------------------------------------------------------------- the run loop

def items_for(names, st, calls, fail=(), interrupt=()):
    def make(name):
        def measure(progress):
            calls.append(name)
            progress("counting", 1, 2)
            if name in fail:
                raise RuntimeError("forward failed\nsecond line")
            if name in interrupt:
                partial = make_report(name, latency=False)
                partial.complete = False
                raise ProfileInterrupted(partial)
            return make_report(name)
        return Item(name, lookup=lambda: st.lookup(name, key_for(name)), measure=measure,
                    save=lambda r: st.save(r, key_for(name)),
                    save_partial=lambda r: st.save(r, key_for(name)))
    return [make(n) for n in names]


def test_run_reuses_measures_the_rest_and_survives_failures(tmp_path):
    st, calls, lines = Store(tmp_path), [], []
    tally = run(items_for("a bad c".split(), st, calls, fail={"bad"}), progress=False,
                log=lines.append)
    assert tally.measured == ["a", "c"] and tally.failures == {"bad": "RuntimeError: forward failed"}
    assert not tally.ok and "failed 1 (bad)" in tally.line()
    calls.clear()
    tally = run(items_for("a bad c".split(), st, calls, fail={"bad"}), progress=False,
                log=lines.append)
    assert calls == ["bad"] and tally.reused == ["a", "c"]  # only what is missing
    calls.clear()
    run(items_for("a c".split(), st, calls), fresh=True, progress=False, log=lines.append)
    assert calls == ["a", "c"]


@pytest.mark.parametrize("interrupt, signum", [(KeyboardInterrupt(), signal.SIGINT),
                                               ("term", signal.SIGTERM)])
def test_run_keeps_finished_work_when_interrupted(tmp_path, interrupt, signum):
    from archlab.study.run import Terminated

    st, calls = Store(tmp_path), []
    items = items_for("a b c".split(), st, calls)
    stop = Terminated(signal.SIGTERM) if interrupt == "term" else interrupt

    def measure(progress):
        raise stop
    items[1].measure = measure
    tally = run(items, progress=False, log=lambda m: None)
    assert tally.interrupted == signum and list(tally.results) == ["a"]
    assert st.lookup("a", key_for("a")) is not None and calls == ["a"]


def test_a_profile_interrupted_midway_is_stored_incomplete(tmp_path):
    st, calls = Store(tmp_path), []
    tally = run(items_for("a b".split(), st, calls, interrupt={"b"}), progress=False,
                log=lambda m: None)
    assert tally.interrupted == signal.SIGINT and tally.partial == ["b"]
    assert not tally.results["b"].complete
    assert st.lookup("b", key_for("b")) is None and st.partial("b", key_for("b")) is not None


# ---------------------------------------------------------------- checks before measuring

@pytest.mark.parametrize("names, kwargs, message", [
    (["nosuchnet"], {}, "unknown model 'nosuchnet'"),
    (["dite18@context=nonsense"], {}, "unknown context 'nonsense'"),
    (["dite18@nosuchfield=1"], {}, "nosuchfield"),
    (["dite18"], {"input_size": "250x190"}, "divisible by 32"),
    (["dite18"], {"input_size": "1x256x192"}, "expects 3 input channels, got 1"),
    (["dite18"], {"input_size": "256"}, "--input must be HxW"),
    (["dite18"], {"batch": 0}, "--batch must be at least 1"),
    (["sknet50"], {"input_size": "4x224x224"}, "3 input channels"),
])
def test_plan_rejects_bad_requests_in_one_line(names, kwargs, message):
    with pytest.raises(ValueError, match=message) as exc:
        plan(names, Measure(), **kwargs)
    assert "\n" not in str(exc.value)


def test_plan_resolves_names_without_regard_to_case():
    [job] = plan(["Dite18"], Measure(), input_size="64x64")
    assert job.name == "dite18" and job.shape == (3, 64, 64) and job.model is not None
    assert parse_input("2x256x192", (3, 1, 1)) == (2, 256, 192)


def test_memory_estimate_equals_the_measured_peak():
    from archlab.profile import profile_module

    [job] = plan(["lite18"], Measure(), input_size="64x64")
    rep = profile_module(job.model, (3, 64, 64), conventions=("archlab",), latency=False)
    weights = sum(t.nbytes for t in job.model.state_dict().values())
    assert estimate_bytes(job.model, (3, 64, 64), 1) == weights + 3 * 64 * 64 * 4 + \
        rep.totals["peak_bytes"]


def test_a_request_that_cannot_fit_is_refused_before_it_runs(monkeypatch):
    import archlab.study.planning as plan_module

    monkeypatch.setattr(plan_module, "available_bytes", lambda device: 2 ** 30)
    with pytest.raises(MemoryError, match=r"needs about .* GiB .* 1.0 GiB is available.*--force"):
        plan(["lite18"], Measure(), input_size="4096x4096")
    [job] = plan(["lite18"], Measure(), input_size="4096x4096", force=True)  # --force: try anyway
    assert job.shape == (3, 4096, 4096)


# ---------------------------------------------------------------- output folders

def test_an_output_folder_has_one_writer(tmp_path):
    out = tmp_path / "x"
    with OutputFolder(out, kind="report", names=["dite18"]):
        with pytest.raises(OutputBusy, match="being written by another archlab run"):
            with OutputFolder(out, kind="report", names=["lite18"]):
                pass
    with OutputFolder(out, kind="report", names=["lite18"]):  # free again
        pass


def test_an_output_folder_is_not_replaced_unseen(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "comparison.json").write_text(json.dumps({"models": ["a", "b"]}))
    with OutputFolder(out, kind="comparison", names=["b", "a"]):  # the same set: fine
        pass
    with pytest.raises(ValueError, match="holds a comparison of a, b; .* --replace"):
        with OutputFolder(out, kind="comparison", names=["a", "c"]):
            pass
    with OutputFolder(out, kind="comparison", names=["a", "c"], replace=True):
        pass
