"""Speed of the profiler itself (pytest-benchmark; not run by the test suite).

    python -m pytest benchmarks -o addopts="" --benchmark-only

Targets: counting dite18 under every default convention (ONE forward pass that also runs fvcore's
and thop's rules) <= 6 forward passes; one operator-timed pass <= 3 forward passes; a full CPU
profile with default settings < 60 s. fvcore and thop run as tools are timed beside them.
benchmarks/speed.py prints the ratios, before -> after, from a single run.
"""
import pytest
import torch

import archlab.models as models
from archlab.profile import profile_module
from archlab.profile.count.external import run_fvcore, run_thop
from archlab.profile.core.inputs import Inputs
from archlab.profile.core.hooks import ModuleTable

OWN = ("archlab", "paper-hook", "paper-conv")
SIZE = (3, 256, 192)


@pytest.fixture(scope="module")
def dite18():
    model = models.build("dite18").eval()
    profile_module(model, SIZE, conventions=OWN, latency=False, memory=False)  # first-use cost
    return model


@pytest.fixture(scope="module")
def x():
    return torch.randn(1, *SIZE)


def test_forward(benchmark, dite18, x):
    def forward():
        with torch.inference_mode():
            dite18(x)
    benchmark.pedantic(forward, rounds=7, warmup_rounds=1)


def test_count_own_conventions_one_pass(benchmark, dite18):
    benchmark.pedantic(profile_module, args=(dite18, SIZE),
                       kwargs=dict(conventions=OWN, latency=False, memory=False),
                       rounds=7, warmup_rounds=1)


def test_one_operator_timed_pass(benchmark, dite18, x):
    # target: at most 3 forward passes (compare with test_forward in the same run)
    from archlab.profile.core.recorder import recording
    from archlab.profile.timing.operators import OpClock

    clock = OpClock(ModuleTable(dite18))

    def timed_pass():
        with torch.inference_mode(), recording(clock):
            dite18(x)
    benchmark.pedantic(timed_pass, rounds=7, warmup_rounds=1)


def test_count_every_convention_one_pass(benchmark, dite18):
    benchmark.pedantic(profile_module, args=(dite18, SIZE), kwargs=dict(latency=False),
                       rounds=5, warmup_rounds=1)


def test_count_with_memory(benchmark, dite18):
    benchmark.pedantic(profile_module, args=(dite18, SIZE),
                       kwargs=dict(conventions=OWN, latency=False, memory=True), rounds=5)


def test_fvcore(benchmark, dite18, x):
    benchmark.pedantic(run_fvcore, args=(dite18, Inputs((x,), {}), ModuleTable(dite18)), rounds=2)


def test_thop(benchmark, dite18, x):
    benchmark.pedantic(run_thop, args=(dite18, Inputs((x,), {}), ModuleTable(dite18)), rounds=3)


def test_full_cpu_profile_defaults(benchmark, dite18):
    # reported, not asserted: a busy shared machine would make the target a flaky check
    report = benchmark.pedantic(profile_module, args=(dite18, SIZE), rounds=1)
    benchmark.extra_info["profile_s"] = report.timing["profile_s"]
    benchmark.extra_info["target_s"] = 60
