"""Input a new user got wrong, or that archlab accepted although it was nonsense (issue 18, cases 5, 6
and 11): each is refused with one line and exit 2 before anything is measured, or, where it was a
half-working path (merging a store twice, `show` of a sweep, the test command), does the whole job."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archlab.models import get_spec
from archlab.results import ReportError, load_report
from test_cli import QUIET, one_line

ROOT = Path(__file__).resolve().parents[1]
COUNT = ["--input", "64x64", "--no-latency", "--convention", "archlab", *QUIET]


# ---------------------------------------------------------------- 5. the model-name grammar

def test_a_field_given_twice_in_a_name_is_refused(cli):
    with pytest.raises(ValueError, match="sets context twice") as exc:
        get_spec("dite18@context=crw,context=dcm")
    assert "\n" not in str(exc.value)
    code, out, err = cli("profile", "dite18@context=crw,context=dcm", *COUNT)
    assert code == 2 and out == "" and "sets context twice" in one_line(err)
    assert not Path("reports").exists()


def test_a_choice_name_no_block_has_is_refused_with_the_name():
    with pytest.raises(ValueError, match=r"unknown context 'banana'.*\(choices: crw, dcm, none\)"):
        get_spec("dite18@context=banana")
    # a name some other block takes is no mistake of the name: building it says why it cannot be
    assert get_spec("dite18@spatial=conv3x3").spatial == "conv3x3"


# ---------------------------------------------------------------- 6. grid values

def test_an_empty_grid_value_is_refused(cli):
    code, out, err = cli("sweep", "dite18", "--grid", "context=", *COUNT)
    assert code == 2 and out == "" and "--grid context= has no values" in one_line(err)
    assert not Path("reports").exists()


def test_a_grid_value_no_point_can_take_is_refused_before_measuring(cli):
    code, out, err = cli("sweep", "dite18", "--grid", "context=dcm,banana", *COUNT)
    line = one_line(err)
    assert code == 2 and out == ""
    assert "'banana'" in line and "choices: crw, dcm, none" in line
    assert not Path("reports").exists()


def test_a_combination_of_valid_values_is_not_refused_by_the_grid():
    from archlab.study.grid import parse_grid

    # basic blocks take no context: block=basic with context=crw cannot be built, but each value
    # is one some point can take, so the sweep tables that combination as an invalid row
    grid = parse_grid(get_spec("lite18"), ["block=basic,ccw", "context=crw,none"])
    assert grid == {"block": ["basic", "ccw"], "context": ["crw", "none"]}


# ---------------------------------------------------------------- 11. merge and show

@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 2-point counting sweep of lite18 (its store and its folder), made once."""
    from archlab.cli import main

    where = tmp_path_factory.mktemp("swept")
    code = main(["sweep", "lite18", "--grid", "context=crw,none", *COUNT,
                 "--store", str(where / "store"), "--out", str(where / "S")])
    assert code == 0
    return where


def test_merging_one_store_twice_reads_it_once(swept, cli):
    store = swept / "store"
    code, out, err = cli("merge", store, f"{store}/.", "--out", "M")
    assert code == 0, err
    assert "repeat" not in out and "repeat" not in err
    assert "from 1 store(s)" in err and "2 reports" in Path("M/merge.md").read_text()


@pytest.mark.parametrize("inside", ["", "merged"])
def test_a_merge_into_its_own_store_is_refused(swept, cli, inside):
    store = swept / "store"
    before = sorted(p.name for p in store.iterdir())
    code, out, err = cli("merge", store, "--out", store / inside)
    assert code == 2 and out == "" and "is the store" in one_line(err)
    assert sorted(p.name for p in store.iterdir()) == before


def test_show_of_a_sweep_has_its_grid_and_front(swept, cli):
    code, out, err = cli("show", swept / "S")
    assert code == 0, err
    assert "## Pareto front" in out and "## Every point" in out
    header = next(ln for ln in out.splitlines() if ln.startswith("model "))
    assert header.split()[:4] == ["model", "input", "batch", "context"] and "front" in header
    row = next(ln for ln in out.splitlines() if ln.startswith("lite18@context=none "))
    assert " none " in row and "★" in row  # fewer MACs and params than the base: on the front
    assert "Measured: " in out and ", cpu (" in out  # the device it was measured on
    assert not re.search(r"\d[eE][+-]\d", out)  # engineering form, never 7.34e+03
    code, out, _ = cli("show", swept / "S", "--format", "latex")
    assert code == 0 and "\\toprule" in out and "lite18@context=none" in out
    code, out, _ = cli("show", swept / "S", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("model,point,input,batch,context,tag,front")


def test_show_of_a_merge_has_its_device_columns(swept, cli):
    assert cli("merge", swept / "store", "--out", "M")[0] == 0
    code, out, err = cli("show", "M")
    assert code == 0, err
    assert "# Merged measurements" in out and "## Pareto front" in out
    header = next(ln for ln in out.splitlines() if ln.startswith("model "))
    for column in ("device", "device_name", "torch", "threads", "store", "front"):
        assert column in header.split(), column


@pytest.mark.parametrize("field, value, where", [
    (("rows", 0, "params"), -5, "rows.0.params"),
    (("rows", 1, "macs"), -600, "rows.1.macs"),
    (("totals", "macs"), -1000, "totals.macs"),
    (("totals", "latency_ms"), -9.0, "totals.latency_ms"),
])
def test_a_report_with_an_impossible_value_does_not_load(tmp_path, cli, field, value, where):
    from test_report import make_report

    data = make_report("toy").to_dict()
    target = data
    for part in field[:-1]:
        target = target[part]
    target[field[-1]] = value
    path = tmp_path / "bad" / "report.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=rf"field {re.escape(where)}: must not be negative") as exc:
        load_report(path)
    assert "\n" not in str(exc.value)
    code, out, err = cli("show", path.parent)
    assert code == 2 and out == "" and f"field {where}" in one_line(err)


def test_a_text_file_as_checkpoint_says_what_to_give(cli):
    Path("notes.txt").write_text("these are my notes, not weights\n")
    code, out, err = cli("profile", "lite18", "--checkpoint", "notes.txt", *COUNT)
    line = one_line(err)
    assert code == 2 and out == "" and not Path("reports").exists()
    assert "notes.txt is not a PyTorch checkpoint (not a zip or pickle file torch.load can read)" in line
    assert "give the .pth file" in line


# ---------------------------------------------------------------- 11. the README's test command

def _extras(text: str) -> set[str]:
    found = re.search(r'pip install[^\n]*-e "\.\[([^\]]*)\]"', text)
    assert found, "no `pip install ... -e \".[...]\"` line"
    return set(found[1].split(","))


def test_the_readme_installs_the_extras_ci_tests_with():
    setup = (ROOT / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert _extras(setup) == _extras((ROOT / ".ci" / "run").read_text())
    assert ".venv/bin/python -m pytest" in setup and "ARCHLAB_SPEC" in setup


def test_the_spec_key_lists_are_found_through_archlab_spec(tmp_path, monkeypatch):
    from test_checkpoints import spec_folder

    monkeypatch.setenv("ARCHLAB_SPEC", str(tmp_path / "spec"))
    assert spec_folder() == tmp_path / "spec" / "checkpoints"
