"""fvcore's and thop's conventions, counted from archlab's one counting pass (count/fvcore_rules.py,
count/thop_rules.py), equal the tools' own numbers exactly: FlopCountAnalysis and thop.profile run
here beside them, per module, per category, per op, on torch models of the kinds vision backbones
are built from and on the zoo. Where the pass cannot vouch for fvcore's trace (a recurrent cell)
the profile runs fvcore itself."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archlab.models import build, get_spec
from archlab.profile import profile_module
from archlab.profile.core.hooks import ModuleTable
from archlab.profile.core.inputs import Inputs
from archlab.profile.count.conventions import DEFAULT_CONVENTIONS
from archlab.profile.count.external import run_fvcore, run_thop
from archlab.profile.passes import _from_pass, count_pass

pytestmark = pytest.mark.usefixtures("one_thread")


class _Run:
    def fail(self, phase, exc, *a, **k):
        raise exc


def both(model, x):
    """(in the pass, the tools themselves) for fvcore and thop: Counts each."""
    model.eval()
    table, inputs = ModuleTable(model), Inputs((x,), {})
    rec = count_pass(model, inputs, table, _Run(), False, lambda *a, **k: None, DEFAULT_CONVENTIONS)
    return ({t: _from_pass(t, rec, table) for t in ("fvcore", "thop")},
            {"fvcore": run_fvcore(model, inputs, table), "thop": run_thop(model, inputs, table)})


def assert_same(mine, theirs):
    for tool in ("fvcore", "thop"):
        a, b = mine[tool], theirs[tool]
        assert a is not None, f"{tool}: the pass could not stand for the tool"
        for field in ("total", "per_module", "categories", "sources"):
            assert getattr(a, field) == getattr(b, field), (tool, field)
    assert mine["thop"].skipped == theirs["thop"].skipped  # leaves thop has no rule for


def block(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ResNetLike(nn.Module):
    """torchvision's ResNet shapes: a strided stem, max pool, residual blocks, pooled classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        self.body = nn.Sequential(block(16, 16), block(16, 32, 2))
        self.down = nn.Sequential(nn.Conv2d(16, 32, 1, 2, bias=False), nn.BatchNorm2d(32))
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(self.body(x) + self.down(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class MobileNetLike(nn.Module):
    """Inverted residuals: 1x1 expand, 3x3 depthwise, ReLU6, hardswish, squeeze-excite, dropout."""

    def __init__(self):
        super().__init__()
        self.expand = nn.Conv2d(8, 32, 1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.act, self.hs = nn.ReLU6(), nn.Hardswish()
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 8, 1), nn.ReLU(),
                                nn.Conv2d(8, 32, 1), nn.Hardsigmoid())
        self.project = nn.Sequential(nn.Conv2d(32, 8, 1), nn.BatchNorm2d(8))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(8, 5))

    def forward(self, x):
        y = self.hs(self.dw(self.act(self.expand(x))))
        y = x + self.project(y * self.se(y))
        return self.head(F.adaptive_avg_pool2d(y, 1).flatten(1))


class ViTLike(nn.Module):
    """timm's ViT block: patch embedding, LayerNorm, nn.MultiheadAttention, GELU MLP, 3-D linears."""

    def __init__(self, d=32):
        super().__init__()
        self.patch = nn.Conv2d(3, d, 8, 8)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1)
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class AttentionByHand(nn.Module):
    """timm's Attention written out: qkv linear, q @ k^T, softmax, einsum, scaled dot product."""

    def __init__(self, d=16, heads=2):
        super().__init__()
        self.qkv, self.proj, self.heads = nn.Linear(d, 3 * d), nn.Linear(d, d), heads

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1)).softmax(-1)
        y = torch.einsum("bhnm,bhmd->bhnd", a, v) + F.scaled_dot_product_attention(q, k, v)
        y = y + torch.matmul(a, v) + torch.bmm(a.flatten(0, 1), v.flatten(0, 1)).view_as(v)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class ConvNeXtLike(nn.Module):
    """ConvNeXt's block: 7x7 depthwise, channels-last LayerNorm and linears, layer scale."""

    def __init__(self, d=16):
        super().__init__()
        self.dw = nn.Conv2d(d, d, 7, padding=3, groups=d)
        self.norm, self.pw1, self.pw2 = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.gamma = nn.Parameter(torch.ones(d))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class Decoder(nn.Module):
    """A segmentation decoder: transposed conv, group and instance norm, bilinear and nearest
    upsampling, 'same' padding (a different trace node), grid sampling, addmm, mm."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(8, 8, 2, 2)
        self.gn, self.inorm = nn.GroupNorm(2, 8), nn.InstanceNorm2d(8, affine=True)
        self.same = nn.Conv2d(8, 8, 3, padding="same")
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.w = nn.Parameter(torch.randn(8, 8))

    def forward(self, x):
        y = self.inorm(self.gn(self.up(x)))
        y = F.interpolate(self.same(y), scale_factor=2, mode="bilinear", align_corners=False)
        grid = torch.zeros(y.shape[0], 4, 4, 2)
        z = F.grid_sample(y, grid, align_corners=False).flatten(2).transpose(1, 2)
        z = torch.addmm(torch.zeros(8), z.flatten(0, 1), self.w) + torch.mm(z.flatten(0, 1), self.w)
        return self.upsample(y).mean() + z.sum()


class SharedAndFunctional(nn.Module):
    """One module reached through two parents (thop hooks it twice), called twice; a functional conv."""

    def __init__(self):
        super().__init__()
        conv = nn.Conv2d(4, 4, 3, padding=1)
        self.a, self.b = nn.Sequential(conv, nn.ReLU()), nn.Sequential(conv, nn.Sigmoid())
        self.bn = nn.BatchNorm2d(4, affine=False)

    def forward(self, x):
        y = self.b(self.a(x)) + F.conv2d(x, self.a[0].weight)[..., :1, :1]
        return self.bn(self.a(y))


TORCH_MODELS = {
    "resnet": (ResNetLike, (3, 64, 48)), "mobilenet": (MobileNetLike, (8, 16, 12)),
    "vit": (ViTLike, (3, 32, 32)), "attention": (AttentionByHand, (6, 16)),
    "convnext": (ConvNeXtLike, (16, 14, 14)), "decoder": (Decoder, (8, 8, 6)),
    "shared": (SharedAndFunctional, (4, 8, 8)),
}


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_models_count_as_the_tools_do(name):
    torch.manual_seed(0)
    cls, size = TORCH_MODELS[name]
    assert_same(*both(cls(), torch.randn(2, *size)))


@pytest.mark.parametrize("name, size", [("lite18", None), ("dite18", None), ("dite18", (3, 384, 288)),
                                        ("sknet50", (3, 128, 96))])
def test_zoo_models_count_as_the_tools_do(name, size):
    torch.manual_seed(0)
    x = torch.randn(1, *(size or get_spec(name).input_size))
    assert_same(*both(build(name), x))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell, self.fc = nn.LSTMCell(4, 8), nn.Linear(8, 2)

    def forward(self, x):
        h, _ = self.cell(x)
        return self.fc(h)


def test_a_model_the_pass_cannot_map_is_counted_by_fvcore_itself():
    """The tracer records an LSTM cell as its parts; the profile asks fvcore."""
    from fvcore.nn import FlopCountAnalysis

    model, x = Recurrent().eval(), torch.randn(3, 4)
    mine, _ = both(model, x)
    assert mine["fvcore"] is None
    rep = profile_module(model, example_inputs=x, latency=False, memory=False)
    fca = FlopCountAnalysis(model, x).unsupported_ops_warnings(False)
    assert rep.count("fvcore") == fca.total() > 0
    assert rep.row("cell").counts["fvcore"] == fca.by_module()["cell"]
