"""Both notebooks run end to end on the CPU, as on a fresh checkout: no report exists, so each one
profiles a small input itself, then shows its tables and plots."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def run(name: str) -> "nbformat.NotebookNode":
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


@pytest.fixture
def fresh_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_REPORT", str(tmp_path / "no-report"))
    monkeypatch.setenv("ARCHLAB_COMPARISON", str(tmp_path / "no-comparison"))
    monkeypatch.setenv("ARCHLAB_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path / "demo"


def outputs(nb, kind):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if kind in o.get("data", {})]


def test_profile_notebook(fresh_checkout):
    nb = run("profile.ipynb")
    assert (fresh_checkout / "dite18_128x96" / "report.json").exists()
    assert len(outputs(nb, "image/png")) >= 4  # stages, top modules, MACs vs latency, drill
    assert len(outputs(nb, "text/html")) >= 3  # module tree, stages, the stage drilled into


def test_compare_notebook(fresh_checkout):
    from archlab.report.compare import load_comparison

    nb = run("compare.ipynb")
    assert len(outputs(nb, "image/png")) == 3  # deltas, cost scatter, module deltas
    assert outputs(nb, "text/markdown")
    table = load_comparison(fresh_checkout / "compare_128x96").to_frame().set_index("model")
    variants = table[table["base"].notna()]
    assert len(variants) == 3 and variants["latency_ratio"].notna().all()  # the paired column
    deltas = load_comparison(fresh_checkout / "compare_128x96").module_deltas()
    assert set(deltas) == set(variants.index)  # every variant's modules, timed beside its base
