"""The profiler on the real models: published figures reproduced under their own conventions."""
import pytest
import torch

import archlab.models as models
from archlab.profile import TABLE, profile_module
from archlab.profile.core.hooks import hook_count

COUNT_ONLY = dict(latency=False, memory=False)

# README figures: Lite/Dite "FLOPs" = paper-hook / 2^20, HRNet "GFLOPs" = paper-conv / 2^30
PUBLISHED = [("lite18", "paper-hook", "205.2"), ("lite30", "paper-hook", "319.2"),
             ("naive_lite18", "paper-hook", "194.8"),
             ("wider_naive_lite18", "paper-hook", "311.1"),
             ("dite18", "paper-hook", "209.8"), ("dite30", "paper-hook", "329.8"),
             ("hrnet_w32", "paper-conv", "7.1"), ("hrnet_w48", "paper-conv", "14.6"),
             ("lite18", "paper-conv", "0.226")]


@pytest.mark.slow
@pytest.mark.parametrize("name, convention, printed", PUBLISHED)
def test_published_figures_to_the_printed_digit(name, convention, printed, reference_counts):
    rep = reference_counts(name)
    digits = len(printed.partition(".")[2])
    assert f"{rep.count(convention) / TABLE[convention].divisor:.{digits}f}" == printed
    assert rep.coverage["skipped"]["fvcore"]  # elementwise ops fvcore skips, recorded not warned


def test_dite18_profile_is_complete_and_leaves_the_model_untouched():
    model = models.build("dite18")
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    before = model(x)
    model.train()
    rep = profile_module(model, (3, 64, 64), warmup=1, budget_s=0.2, module_iters=1,
                         threads=1, conventions=("archlab", "thop", "paper-hook", "paper-conv"))
    assert model.training and hook_count(model) == 0
    model.eval()
    assert torch.equal(model(x), before)
    assert rep.totals["params"] == 1_185_477
    assert rep.coverage["uncounted"] == {}  # every op of a Dite-HRNet has a formula or is free
    assert not [n for n in rep.notes if n.startswith("error")]
    # thop's blind spot (the dynamic convs are functional) is shown, not hidden
    cats = rep.coverage["categories"]
    assert cats["thop"]["conv"] < cats["archlab"]["conv"] == cats["paper-conv"]["conv"]
    gap = next(p for p in rep.coverage["gaps"]["thop"]["parts"] if p["category"] == "conv")
    assert "aten.conv2d" in gap["archlab_counted"] and gap["count"] < gap["archlab"]
    assert all(r.latency_ms is not None for r in rep.rows if r.depth == 1)
