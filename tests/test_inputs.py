"""Any model, any input: the exact arguments a model takes (tensors, tuples, dicts, keywords), an
input constructor for batch sweeps and token ids, and the module table a torchinfo user reads."""
import pytest
import torch
from torch import nn

import archlab
from archlab.report.display import module_table


class TwoInputs(nn.Module):
    """Two tensors and keyword arguments in, a dict out; `a` runs twice."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 4), nn.Linear(6, 4)

    def forward(self, x, y, *, scale=1.0, mask=None):
        h = self.a(x) + self.b(y)
        if mask is not None:
            h = h * mask
        return {"out": h * scale, "aux": self.a(x)}


def test_two_inputs_keywords_and_a_dict_output():
    x, y, mask = torch.randn(3, 8), torch.randn(3, 6), torch.ones(3, 4)
    rep = archlab.profile(TwoInputs(), example_inputs=(x, y),
                          example_kwargs={"scale": 2.0, "mask": mask}, budget_s=0.1,
                          module_iters=3, conventions=("archlab", "fvcore"))
    assert rep.totals["macs"] == 2 * 3 * 4 * 8 + 3 * 4 * 6  # a twice, b once
    assert rep.row("a").calls == 2 and rep.row("a").output_shape == [3, 4]
    assert rep.row("").output_shape == {"out": [3, 4], "aux": [3, 4]}
    assert rep.row("").input_shape == [[3, 8], [3, 6]]  # positional arguments of the first call
    assert [a["path"] for a in rep.input["arguments"]] == ["args[0]", "args[1]", "kwargs['mask']"]
    assert rep.input["shape"] is None and rep.input["batch"] == 3
    assert rep.totals["latency_ms"] > 0 and rep.row("b").self_ms > 0  # timed with the same inputs
    assert any("fvcore calls a model with positional arguments only" in n for n in rep.notes)
    table = module_table(rep, 1)
    assert "[3, 4] ×2 calls" in table and "{out: [3, 4], aux: [3, 4]}" in table


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)

    def forward(self, ids):
        return self.layer(self.embed(ids))


def token_ids(batch):
    return (torch.randint(0, 100, (batch, 16), generator=torch.Generator().manual_seed(batch)),), {}


@pytest.mark.parametrize("batch", [1, 4])
def test_token_ids_through_an_input_constructor(batch):
    rep = archlab.profile(Tokens(), input_constructor=token_ids, batch=batch, latency=False,
                          conventions=("archlab",))
    attention = 3 * 16 * 32 * 32 + 2 * 4 * 16 * 16 * 8 + 16 * 32 * 32  # projections, QK^T and AV, out
    ffn = 2 * 16 * 32 * 64
    norms = 2 * 2 * 16 * 32  # two layer norms, 2 MACs per element
    assert rep.totals["macs"] == batch * (attention + ffn + norms)
    assert rep.input["arguments"] == [{"path": "args[0]", "shape": [batch, 16], "dtype": "int64"}]
    assert rep.row("embed").output_shape == [batch, 16, 32] and rep.coverage["uncounted"] == {}


def test_token_ids_train_too():
    rep = archlab.profile(Tokens(), input_constructor=token_ids, batch=2, mode="train",
                          latency=False, conventions=("archlab",))
    assert rep.totals["macs_backward"] > 0 and rep.row("embed").saved_bytes > 0  # the ids


def test_a_partly_frozen_model_counts_like_a_trainable_one():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1))
    frozen = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1))
    for p in [*frozen[0].parameters(), *frozen[1].parameters()]:
        p.requires_grad_(False)
    a, b = (archlab.profile(m, (3, 8, 8), latency=False) for m in (model, frozen))
    for c in ("archlab", "fvcore", "thop", "paper-hook", "paper-conv"):
        assert a.count(c) == b.count(c), c  # frozen weights still run
    assert a.totals["params"] == b.totals["params"] == 3 * 8 * 9 + 8 + 16 + 8 * 4 + 4
    assert b.totals["trainable_params"] == 8 * 4 + 4 and b.totals["frozen_params"] == 3 * 8 * 9 + 8 + 16
    assert b.row("0").trainable_params == 0 and b.row("2").trainable_params == 36
    assert b.totals["param_bytes[float32]"] == 4 * b.totals["params"]
    assert "trainable" in module_table(b, 1).splitlines()[0]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs its inputs"),
    ({"input_size": (3, 8, 8), "example_inputs": torch.randn(1, 3, 8, 8)}, "one way"),
    ({"input_constructor": 5}, "must be a callable"),
])
def test_inputs_are_given_one_way(kwargs, message):
    with pytest.raises(ValueError, match=message):
        archlab.profile(nn.Conv2d(3, 3, 1), **kwargs)
