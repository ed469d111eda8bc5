"""Shared across the test files: one full-resolution count of every reference model, made once per
test run (the golden tests, the published figures and the fvcore convention all read it), one
intra-op thread for the files that ask for it, and the `archlab` command run in-process."""
import os

import pytest
import torch

GOLDEN_CONVENTIONS = ("archlab", "paper-hook", "paper-conv", "fvcore")


def pytest_configure(config):
    """Under pytest-xdist each worker, and every process a test starts, runs on one intra-op
    thread: two workers on a 2-core machine would otherwise each spin two."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reference_counts():
    """name -> the Report of that reference model at its own input, batch 1, counted under every
    convention the goldens need (no latency, no memory)."""
    from archlab.models import build, get_spec
    from archlab.profile import profile_module

    made = {}

    def get(name):
        if name not in made:
            spec = get_spec(name)
            made[name] = profile_module(build(name), tuple(spec.input_size), latency=False,
                                        memory=False, conventions=GOLDEN_CONVENTIONS)
        return made[name]
    return get


@pytest.fixture
def one_thread():
    """One intra-op thread: on a small shared machine, OpenMP threads spinning against other
    processes make small forwards 10-100x slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """Run `archlab ARGS` in-process in a fresh working folder: (exit code, stdout, stderr)."""
    from archlab.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run
