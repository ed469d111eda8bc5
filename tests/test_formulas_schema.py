"""Formulas that read their arguments by each op's own schema: every batch-norm overload (where its
`training` flag is, or whether it has one), the ops that do no arithmetic, and torchvision's
roi_align formula on hand-made arguments (so it is tested where torchvision is not installed)."""
import pytest
import torch
from torch import nn

from archlab.profile import profile_module
from archlab.profile.count import formulas, ops

aten = torch.ops.aten
N = 2 * 4 * 3 * 3  # elements of the (2, 4, 3, 3) input


class Call(nn.Module):
    """Runs one ATen overload on its input, with batch-norm parameters and statistics at hand."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.register_buffer("w", torch.ones(4))
        self.register_buffer("b", torch.zeros(4))
        self.register_buffer("rm", torch.zeros(4))
        self.register_buffer("rv", torch.ones(4))

    def forward(self, x):
        return self.fn(self, x)


@pytest.mark.parametrize("fn, per_element", [
    # (input, weight, bias, running_mean, running_var, training, momentum, eps)
    (lambda m, x: aten.native_batch_norm(x, m.w, m.b, m.rm, m.rv, True, 0.1, 1e-5), 2),
    (lambda m, x: aten.native_batch_norm(x, m.w, m.b, m.rm, m.rv, False, 0.1, 1e-5), 1),
    (lambda m, x: aten._native_batch_norm_legit(x, m.w, m.b, m.rm, m.rv, False, 0.1, 1e-5), 1),
    (lambda m, x: aten._native_batch_norm_legit(x, m.w, m.b, m.rm, m.rv, True, 0.1, 1e-5), 2),
    # no running statistics: (input, weight, bias, training, momentum, eps): the batch's
    (lambda m, x: aten._native_batch_norm_legit.no_stats(x, m.w, m.b, True, 0.1, 1e-5), 2),
    (lambda m, x: aten._native_batch_norm_legit_no_training(x, m.w, m.b, m.rm, m.rv, 0.1, 1e-5), 1),
    # (input, weight, bias, running_mean, running_var, momentum, eps): no flag at all
    (lambda m, x: aten._batch_norm_with_update(x, m.w, m.b, m.rm, m.rv, 0.1, 1e-5), 2),
    (lambda m, x: aten._batch_norm_no_update(x, m.w, m.b, m.rm, m.rv, 0.1, 1e-5), 1),
    (lambda m, x: aten.batch_norm(x, m.w, m.b, None, None, True, 0.1, 1e-5, False), 2),
])
def test_batch_norm_statistics_read_per_op_schema(fn, per_element):
    """Running statistics: 1 MAC per element; batch statistics: 2 (variance, normalise+affine)."""
    rep = profile_module(Call(fn), (4, 3, 3), batch=2, conventions=("archlab",), latency=False,
                         memory=False)
    assert rep.coverage["uncounted"] == {}
    assert rep.totals["macs"] == per_element * N


def _meta(*shape):
    return torch.empty(*shape, device="meta")


@pytest.mark.parametrize("op, args, per_element", [
    # (grad_out, input, weight, running_mean, running_var, save_mean, save_var, update, eps,
    #  output_mask, reserve): `update` False with running statistics is an inference backward
    (aten.batch_norm_backward.default, (True, "rm"), 2),
    (aten.batch_norm_backward.default, (False, "rm"), 1),
    (aten.batch_norm_backward.default, (False, None), 2),
    (aten.native_batch_norm_backward.default, (False, "rm"), 1),
])
def test_batch_norm_backward_statistics(op, args, per_element):
    flag, stats = args
    x, rm = _meta(2, 4, 3, 3), _meta(4) if stats else None
    call = (x, x, _meta(4), rm, rm, None, None, flag, 1e-5, [True, True, True])
    macs, _ = ops.entry(op).formula(call, {}, None)
    assert macs == per_element * N


class Splits(nn.Module):
    def forward(self, x):  # (B, 6)
        grid = torch.linspace(0, 1, 6)
        return torch.tensor_split(x, 3, dim=1), x.repeat_interleave(2, dim=0), grid


def test_splits_repeats_and_grids_are_free():
    rep = profile_module(Splits(), (6,), batch=2, conventions=("archlab",), latency=False,
                         memory=False)
    assert rep.coverage["uncounted"] == {}
    for op in ("tensor_split", "repeat_interleave", "linspace"):
        assert rep.coverage["free"].get(f"aten.{op}", 0) >= 1, op
    assert rep.totals["macs"] == 0


# --- torchvision::roi_align, without torchvision ------------------------------------------------
# boxes (batch index, x1, y1, x2, y2): 8 wide x 4 high, and 3 wide x 9 high; 2 channels, 2x2 bins
BOXES = torch.tensor([[0, 0, 0, 8, 4], [0, 2, 2, 5, 11]], dtype=torch.float32)


@pytest.mark.parametrize("scale, ratio, aligned, points", [
    (1.0, -1, False, 8 + 10),  # adaptive: ceil(4/2)*ceil(8/2) and ceil(9/2)*ceil(3/2) per bin
    (1.0, 2, False, 4 + 4),  # 2 x 2 per bin, per box
    (0.5, 0, True, 2 + 3),  # half scale, aligned: 2 high x 4 wide -> 1*2; 4.5 x 1.5 -> 3*1
    (0.1, 0, False, 1 + 1),  # boxes under a pixel are one pixel a side unless aligned
])
def test_roi_align_formula_on_its_schema(scale, ratio, aligned, points):
    """(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned), as
    torchvision's op receives them; the table maps the op to this formula."""
    assert ops._BUILTIN["torchvision::roi_align"][1] is formulas.roi_align
    x, out = torch.zeros(1, 2, 16, 16), torch.zeros(2, 2, 2, 2)
    macs, flops = formulas.roi_align((x, BOXES, scale, 2, 2, ratio, aligned), {}, out)
    assert macs == 4 * 2 * 4 * points  # 4 per sample point x 2 channels x 4 bins
    assert flops == 2 * macs + out.numel()  # + each bin's average
