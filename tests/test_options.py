"""One options object: the store key is derived from Measure's fields, so every option that changes a
measurement changes the key, for every command and study function; what a run only decides
(Policy) never does."""
import dataclasses

import pytest

from archlab.cli import parser
from archlab.cli.common import options
from archlab.study import Measure, Policy
from archlab.study.options import settle

# a value other than the default for every field of Measure (a field added without one fails here)
OTHER = {"conventions": ("archlab",), "latency": False, "per_module": True,
         "runtimes": ("eager", "fused"), "device": "cuda", "threads": 3, "budget_s": 1.5,
         "op_passes": 40, "mode": "train", "sgd": True, "cuda_graph": True,
         "checkpoint": __file__}
NEEDS = {"sgd": {"mode": "train"}, "cuda_graph": {"device": "cuda"}}


def test_every_field_of_measure_is_in_the_key():
    assert set(OTHER) == {f.name for f in dataclasses.fields(Measure)}
    for name, value in OTHER.items():
        base = Measure(**NEEDS.get(name, {}))
        assert Measure(**{**NEEDS.get(name, {}), name: value}).key() != base.key(), name


def test_a_field_added_to_measure_is_in_the_key_by_construction():
    wider = dataclasses.make_dataclass(
        "Wider", [("new_option", int, dataclasses.field(default=0, metadata={"role": "key"}))],
        bases=(Measure,), frozen=True)
    assert wider(new_option=1).key() != wider().key()
    assert wider(new_option=1).key()["measure"]["new_option"] == 1


def test_policy_never_changes_the_key():
    m = Measure()
    assert not {f.name for f in dataclasses.fields(Policy)} & set(m.key()["measure"])
    assert not {f.name for f in dataclasses.fields(Policy)} & set(m.key()["holds"])


def test_study_functions_take_every_field_and_refuse_unknown_ones():
    for name, value in OTHER.items():
        measure, _ = settle("profile_to", None, None, {**NEEDS.get(name, {}), name: value})
        assert getattr(measure, name) == (tuple(value) if isinstance(value, tuple) else value)
    with pytest.raises(TypeError, match="unexpected keyword argument 'budget'"):
        settle("compare", None, None, {"budget": 3})
    with pytest.raises(TypeError, match="not both"):
        settle("sweep", Measure(), None, {"threads": 2})


def test_measure_refuses_nonsense_before_anything_runs():
    for fields, message in [({"mode": "test"}, "--mode"), ({"sgd": True}, "--mode train"),
                            ({"budget_s": 0}, "--budget"), ({"threads": 0}, "--threads"),
                            ({"cuda_graph": True}, "--device cuda"),
                            ({"runtimes": ("eager", "fused"), "latency": False}, "--no-latency"),
                            ({"conventions": ("flops",)}, "unknown"),
                            ({"checkpoint": "/no/such/file.pth"}, "no checkpoint file")]:
        with pytest.raises(ValueError, match=message):
            Measure(**fields)


COMMANDS = {"profile": ["profile", "lite18"], "compare variants": ["compare", "variants"],
            "compare models": ["compare", "models", "lite18", "dite18"],
            "sweep": ["sweep", "lite18", "--grid", "context=none"]}
# every measuring flag of the command line, and what it changes
FLAGS = [["--threads", "3"], ["--device", "cuda"], ["--budget", "7"], ["--no-latency"],
         ["--convention", "archlab"], ["--runtime", "fused"], ["--mode", "train"],
         ["--mode", "train", "--sgd"]]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_measuring_option_of_every_command_changes_the_key(command):
    def key(*flags):
        measure, _ = options(parser().parse_args([*COMMANDS[command], *flags]))
        return measure.key()
    base = key()
    keys = [key(*flags) for flags in FLAGS]
    assert all(k != base for k in keys)
    assert len({repr(k) for k in keys}) == len(keys)  # and no two options give one key
    assert key("--fresh", "--keep-noisy", "--replace", "--force", "--no-progress") == base
    if command == "profile":
        assert key("--cuda-graph", "--device", "cuda") != key("--device", "cuda")


def test_a_profile_after_a_compare_keeps_its_per_module_times(tmp_path):
    """A comparison's reports hold no per-module times; a profile with the same conventions must
    not take one of them for its own."""
    from archlab import study

    common = dict(input_size="64x64", conventions=["archlab"], budget_s=0.2, threads=1,
                  store=tmp_path / "store", progress=False, log=lambda msg: None)
    study.compare(["lite18", "lite18_sk"], tmp_path / "cmp", **common)
    outcome = study.profile_to("lite18", tmp_path / "one", **common)
    assert outcome.tally.measured == ["lite18"]
    report = outcome.result
    assert report.timing.get("op_ms") is not None
    assert any(r.self_ms is not None for r in report.rows)
    # and a comparison after the profile reuses it: it holds all a comparison asks for (noisy or
    # not: a loaded machine may flag the latency, which is not what this checks)
    again = study.compare(["lite18"], tmp_path / "cmp2", keep_noisy=True, **common)
    assert again.tally.reused == ["lite18"]
