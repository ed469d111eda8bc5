"""SK conv, strip pooling, SE / soft gates: build, forward, shape, parameter count by hand formula."""
import pytest
import torch
from torch import nn

from archlab.blocks.gates import SoftGate, SoftGatedSkip, SqueezeExcite
from archlab.blocks.selective import SKConv
from archlab.blocks.strip import MPM, SPM


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def bn(c):  # BatchNorm2d weight + bias
    return 2 * c


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---- SKConv -------------------------------------------------------------------------------------

@pytest.mark.parametrize("c, g, stride", [(64, 32, 1), (64, 32, 2), (20, 20, 1), (160, 160, 1), (256, 32, 1)])
def test_skconv_dilated(c, g, stride):
    m = SKConv(c, stride=stride, groups=g).eval()
    d = max(c // 16, 32)
    # two 3x3 grouped ConvBN paths; squeeze 1x1 C->d (no bias) + BN; select 1x1 d->2C (no bias)
    assert n_params(m) == 2 * (9 * c * c // g + bn(c)) + c * d + bn(d) + d * 2 * c
    y = m(torch.randn(2, c, 9, 7))
    assert y.shape == (2, c, (9 - 1) // stride + 1, (7 - 1) // stride + 1)
    assert m.paths[1].conv.dilation == (2, 2) and m.paths[1].conv.padding == (2, 2)


@pytest.mark.parametrize("c, g", [(64, 32), (40, 40)])
def test_skconv_3x3_5x5_linear_attention(c, g):
    m = SKConv(c, groups=g, paths="3x3+5x5").eval()
    d = max(c // 16, 32)
    # 3x3 and 5x5 ConvBN paths; re-telling's attention: Linear(C->d) + Linear(d->2C), both with bias
    assert n_params(m) == (9 + 25) * c * c // g + 2 * bn(c) + (c * d + d) + (d * 2 * c + 2 * c)
    assert isinstance(m.select, nn.Linear)
    assert m(torch.randn(1, c, 8, 8)).shape == (1, c, 8, 8)


def test_skconv_even_attention_averages_paths():
    m = SKConv(32, groups=32).eval()
    nn.init.zeros_(m.select.weight)  # equal logits -> each path weighted 1/2
    x = torch.randn(2, 32, 6, 6)
    u0, u1 = m.paths[0](x), m.paths[1](x)
    torch.testing.assert_close(m(x), 0.5 * (u0 + u1))


def test_skconv_unknown_paths_names_choices():
    with pytest.raises(ValueError, match=r"did you mean 'dilated'.*choices: dilated, 3x3\+5x5"):
        SKConv(64, paths="dilate")


def test_skconv_training_batch_1_is_a_clear_error():
    with pytest.raises(ValueError, match="batch >= 2"):
        SKConv(32, groups=32).train()(torch.randn(1, 32, 4, 4))
    # the Linear form has no BN in its attention, so one sample is fine
    assert SKConv(32, groups=32, paths="3x3+5x5").train()(torch.randn(1, 32, 4, 4)).shape == (1, 32, 4, 4)


def test_skconv_bad_groups():
    with pytest.raises(ValueError, match="multiple of groups"):
        SKConv(48, groups=32)


# ---- strip pooling ------------------------------------------------------------------------------

def test_spm():
    c = 16
    m = SPM(c).eval()
    # (3,1) ConvBN + (1,3) ConvBN + 1x1 conv with bias
    assert n_params(m) == 2 * (3 * c * c + bn(c)) + c * c + c
    x = torch.randn(2, c, 10, 6)
    y = m(x)
    assert y.shape == x.shape
    assert torch.all(y.abs() <= x.abs())  # a sigmoid gate only shrinks


@pytest.mark.parametrize("hw", [(16, 12), (40, 30)])  # smaller and larger than the 20 / 12 pools
def test_mpm(hw):
    c = 40
    m = MPM(c).eval()
    i = c // 4
    expected = (2 * (c * i + bn(i))            # two 1x1 reductions
                + 3 * (9 * i * i + bn(i))      # 3x3 on x1 and on the 20 / 12 pools
                + 2 * (3 * i * i + bn(i))      # (1,3) and (3,1) strip convs
                + 2 * (9 * i * i + bn(i))      # 3x3 after each sum
                + 2 * i * c + bn(c))           # 1x1 projection back to C
    assert n_params(m) == expected
    assert m(torch.randn(1, c, *hw)).shape == (1, c, *hw)


def test_mpm_too_narrow():
    with pytest.raises(ValueError, match="at least 4 channels"):
        MPM(3)


# ---- gates --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [SqueezeExcite, SoftGate])
def test_channel_gates(cls):
    c, r = 24, 4
    m = cls(c, reduction=r).eval()
    assert n_params(m) == c * (c // r) + c // r + (c // r) * c + c
    x = torch.randn(2, c, 5, 7)
    alpha = m.alpha(x)
    assert alpha.shape == (2, c, 1, 1)
    torch.testing.assert_close(m(x), x * alpha)


def test_gate_reduction_too_large():
    with pytest.raises(ValueError, match="at least 1"):
        SqueezeExcite(3, reduction=4)


def test_soft_gated_skip():
    c = 32
    m = SoftGatedSkip(c).eval()
    h, q = c // 2, c // 4
    convs = 9 * c * h + bn(h) + 9 * h * q + bn(q) + 9 * q * q + bn(q)
    gate = 2 * c * (c // 4) + c // 4 + c
    assert n_params(m) == convs + gate
    x = torch.randn(2, c, 8, 8)
    assert m(x).shape == x.shape
    # with the last BN of every conv zeroed the residual is 0 and only the gated identity is left
    for conv in (m.conv1, m.conv2, m.conv3):
        nn.init.zeros_(conv.bn.weight)
    torch.testing.assert_close(m(x), x * m.gate.alpha(x))


def test_soft_gated_skip_needs_multiple_of_4():
    with pytest.raises(ValueError, match="multiple of 4"):
        SoftGatedSkip(30)
