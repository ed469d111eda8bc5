"""Every block of the library: it builds, runs, gives the right shape and the hand-counted parameters."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from archlab.blocks.ccw import CCWBlock
from archlab.blocks.context import CRW, DCM, GCM, SW, attention_pool, flat_attention_pool
from archlab.blocks.conv import STEPS, ConvBN, DWSepConv, channel_shuffle, choose
from archlab.blocks.dynamic import (DynamicConv2d, DynamicSplitConv, KernelAggregation, KernelAttention,
                                    dynamic_conv2d, dynamic_conv_bn, split_sizes)
from archlab.blocks.fusion import Fusion, IterativeHead, Transition
from archlab.blocks.residual import BasicBlock, Bottleneck, Parallel, ShuffleUnit
from archlab.blocks.stems import DGCStem, HRNetStem, LiteStem


def params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def cbn(cin, cout, k=1, g=1):  # ConvBN: bias-free conv + BN (weight, bias)
    return cin // g * cout * k * k + 2 * cout


def conv_b(cin, cout):  # 1x1 conv with bias
    return cin * cout + cout


def attn(cin, k):  # KernelAttention: 1x1 (no bias) + BN + 1x1 (bias)
    m = k if cin == 3 else cin // 4
    return cin * m + 2 * m + conv_b(m, k)


def dka_bn(cin, cout, ks, g, k):  # ConvBN with a DKA conv of k kernels
    return attn(cin, k) + k * cin // g * cout * ks * ks + 2 * cout if k > 1 else cbn(cin, cout, ks, g)


def gcm(c, r):
    return conv_b(c, 1) + cbn(c, c // r) + conv_b(c // r, c) + 2 * c


@pytest.fixture(autouse=True)
def _seed_one_thread():
    """Deterministic weights; one intra-op thread (tiny tensors, a small shared machine)."""
    torch.manual_seed(0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_convbn_and_steps():
    m = ConvBN(16, 32, 3, 2, act="relu")
    assert [type(c) for c in m] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert m(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4) and params(m) == cbn(16, 32, 3)
    assert ConvBN(8, 8, 3, dilation=2)(torch.randn(1, 8, 9, 9)).shape == (1, 8, 9, 9)
    m = DWSepConv(16, 32)
    assert m(torch.randn(1, 16, 8, 8)).shape == (1, 32, 8, 8) and params(m) == cbn(16, 16, 3, 16) + cbn(16, 32)
    assert params(STEPS["conv3x3"](8, 16, 2)) == cbn(8, 16, 3)
    assert STEPS["dwsep"](8, 16, 2, act="none")(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)
    with pytest.raises(ValueError, match="did you mean 'relu'"):
        ConvBN(8, 8, act="rellu")
    with pytest.raises(ValueError, match="groups"):
        ConvBN(6, 8, groups=4)


def test_channel_shuffle_and_choose():
    x = torch.arange(6.).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    with pytest.raises(ValueError, match="choices: a, bb"):
        choose({"a": 1, "bb": 2}, "b", "thing")


def test_kernel_attention_and_dynamic_conv_params():
    a = KernelAttention(16, 4)
    assert a(torch.randn(3, 16, 5, 5)).shape == (3, 4) and params(a) == attn(16, 4)
    assert params(KernelAttention(3, 4)) == attn(3, 4)  # M = K for RGB input
    conv = DynamicConv2d(16, 8, 3, 2, 1, num_kernels=4)
    assert conv(torch.randn(2, 16, 8, 8)).shape == (2, 8, 4, 4)
    assert params(conv) == attn(16, 4) + 4 * 16 * 8 * 9
    leaf = conv.aggregate  # a leaf with conv geometry, for leaf-hook counters
    assert not list(leaf.children()) and leaf.kernel_size == (3, 3) and leaf.groups == 1
    assert (leaf.in_channels, leaf.out_channels, leaf.num_kernels) == (16, 8, 4)
    plain = dynamic_conv2d(16, 8, 3, num_kernels=1)
    assert type(plain) is nn.Conv2d and plain.bias is None
    assert params(dynamic_conv_bn(16, 16, 3, groups=16, num_kernels=4)) == dka_bn(16, 16, 3, 16, 4)


@pytest.mark.parametrize("batch", [1, 2, 5])
@pytest.mark.parametrize("cin,cout,k,stride,groups", [(8, 12, 3, 1, 1), (12, 12, 3, 2, 12), (8, 4, 1, 1, 2)])
def test_dka_grouped_conv_equals_per_sample(batch, cin, cout, k, stride, groups):
    agg = KernelAggregation(cin, cout, k, stride, k // 2, 1, groups, num_kernels=4)
    x, a = torch.randn(batch, cin, 9, 7), torch.rand(batch, 4)
    out = agg(x, a)
    for i in range(batch):
        w = (a[i].view(4, 1, 1, 1, 1) * agg.weight).sum(0)  # this sample's own kernel
        ref = F.conv2d(x[i:i + 1], w, None, stride, k // 2, 1, groups)
        torch.testing.assert_close(out[i:i + 1], ref, atol=1e-5, rtol=1e-5)


def test_dynamic_split_conv():
    assert split_sizes(10, 3) == [4, 3, 3]
    m = DynamicSplitConv(40, groups=4, num_kernels=2)
    assert m(torch.randn(2, 40, 8, 8)).shape == (2, 40, 8, 8)
    assert params(m) == sum(dka_bn(10, 10, 3 + 2 * i, 10, 2) for i in range(4))
    one = DynamicSplitConv(20, groups=1, num_kernels=1)  # G = 1, K = 1: one static dw 3x3 + BN
    assert params(one) == cbn(20, 20, 3, 20)
    with pytest.raises(ValueError):
        DynamicSplitConv(10, groups=4)


def test_crw_sw():
    xs = [torch.randn(2, 20, 16, 12), torch.randn(2, 40, 8, 6)]
    crw = CRW([20, 40], reduction=8)
    assert [y.shape for y in crw(xs)] == [x.shape for x in xs]
    assert params(crw) == cbn(60, 7) + cbn(7, 60)
    sw = SW(20, reduction=4)
    assert sw(xs[0]).shape == xs[0].shape and params(sw) == conv_b(20, 5) + conv_b(5, 20)
    assert isinstance(sw.pool, nn.AdaptiveAvgPool2d)


def test_gcm_dcm():
    m = GCM(20, reduction=4)
    assert m(torch.randn(2, 20, 8, 6)).shape == (2, 20, 8, 6) and params(m) == gcm(20, 4)
    xs = [torch.randn(2, 20, 16, 12), torch.randn(2, 40, 8, 6), torch.randn(2, 80, 4, 3)]
    dcm = DCM([20, 40, 80], reduction=8)
    assert [y.shape for y in dcm(xs)] == [x.shape for x in xs]
    # no mask conv for the lowest branch (it is never pooled): no dead parameters
    assert len(dcm.masks) == 2
    assert params(dcm) == conv_b(20, 1) + conv_b(40, 1) + cbn(140, 17) + conv_b(17, 140)


def test_attention_pool_is_per_patch():
    x = torch.randn(2, 5, 8, 6)
    flat = torch.zeros(2, 1, 8, 6)  # equal logits: a plain average of each 2x3 patch
    torch.testing.assert_close(attention_pool(x, flat, (4, 2)), F.avg_pool2d(x, (2, 3)))
    logits = torch.randn(2, 1, 8, 6)
    out = attention_pool(x, logits, (4, 2))
    w = torch.softmax(logits[:, :, 2:4, 3:6].flatten(2), -1)  # patch (1, 1)
    ref = (x[:, :, 2:4, 3:6].flatten(2) * w).sum(-1)
    torch.testing.assert_close(out[:, :, 1, 1], ref)


def test_flat_attention_pool_is_the_released_reshape():
    """Each sample's C*H*W values in memory order, as P chunks of C rows of n, weighted by the
    P consecutive n-long chunks of one softmax over all H*W positions."""
    b, c, hh, ww, size = 2, 5, 8, 6, (4, 2)
    p, n = 8, 6
    x, logits = torch.randn(b, c, hh, ww), torch.randn(b, 1, hh, ww)
    s = torch.softmax(logits.flatten(1), -1)  # (B, H*W)
    flat = x.flatten(1)  # (B, C*H*W)
    ref = torch.zeros(b, c, p)
    for q in range(p):
        for ch in range(c):
            start = q * c * n + ch * n
            ref[:, ch, q] = (flat[:, start:start + n] * s[:, q * n:(q + 1) * n]).sum(-1)
    torch.testing.assert_close(flat_attention_pool(x, logits, size), ref.view(b, c, *size))
    # the halves a block chunks off a batch are not contiguous: still views, same numbers
    half = torch.cat([torch.randn(b, c, hh, ww), x], 1).chunk(2, dim=1)[1]
    torch.testing.assert_close(flat_attention_pool(half, logits, size), ref.view(b, c, *size))


def _copies(fn, *args) -> int:
    """aten copy kernels (copy_, clone) that fn dispatches: the strided copies it makes."""
    names = []

    class Seen(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            names.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    with Seen():
        fn(*args)
    return sum(n in ("copy_", "clone") for n in names)


def test_dcm_pooling_forms():
    xs = [torch.randn(1, 20, 16, 12), torch.randn(1, 40, 8, 6), torch.randn(1, 80, 4, 3)]
    released, patch = DCM([20, 40, 80]), DCM([20, 40, 80], pool="per_patch")
    patch.load_state_dict(released.state_dict())
    assert released.pool_fn is flat_attention_pool and patch.pool_fn is attention_pool
    assert [y.shape for y in patch(xs)] == [x.shape for x in xs]
    assert not torch.allclose(released(xs)[0], patch(xs)[0])
    logits = torch.randn(1, 1, 16, 12)
    assert _copies(flat_attention_pool, xs[0], logits, (4, 3)) == 0
    assert _copies(attention_pool, xs[0], logits, (4, 3)) == 2  # gathering the patches
    with pytest.raises(ValueError, match="did you mean 'per_patch'"):
        DCM([20, 40], pool="perpatch")


def test_residual_blocks():
    assert params(BasicBlock(32)) == 2 * cbn(32, 32, 3)
    assert BasicBlock(32)(torch.randn(1, 32, 8, 8)).shape == (1, 32, 8, 8)
    b = Bottleneck(64, 64)
    assert b(torch.randn(1, 64, 8, 8)).shape == (1, 256, 8, 8)
    assert params(b) == cbn(64, 64) + cbn(64, 64, 3) + cbn(64, 256) + cbn(64, 256)
    assert params(Bottleneck(256, 64)) == cbn(256, 64) + cbn(64, 64, 3) + cbn(64, 256)
    s = ShuffleUnit(30)
    assert s(torch.randn(1, 30, 8, 8)).shape == (1, 30, 8, 8)
    assert params(s) == 2 * cbn(15, 15) + cbn(15, 15, 3, 15)
    p = Parallel([ShuffleUnit(30), ShuffleUnit(60)])
    assert [y.shape[1] for y in p([torch.randn(1, 30, 8, 8), torch.randn(1, 60, 4, 4)])] == [30, 60]
    with pytest.raises(ValueError, match="did you mean 'sk'"):
        BasicBlock(32, spatial="skk")


def _branches(b=1):
    return [torch.randn(b, c, 32 >> i, 24 >> i) for i, c in enumerate((40, 80, 160, 320))]


def test_ccw_block_lite_and_dite():
    xs = _branches(2)
    lite = CCWBlock([40, 80, 160, 320])
    assert [y.shape for y in lite(xs)] == [x.shape for x in xs]
    halves = (20, 40, 80, 160)
    assert params(lite) == (cbn(300, 37) + cbn(37, 300)
                            + sum(cbn(h, h, 3, h) + conv_b(h, h // 4) + conv_b(h // 4, h) for h in halves))
    dite = CCWBlock([40, 80, 160, 320], context="dcm", spatial="dsc", num_kernels=(4, 4, 2, 1),
                    split_groups=(1, 1, 2, 4), weighting="gcm", gcm_reduction=(4, 4, 8, 8))
    assert [y.shape for y in dite(xs)] == [x.shape for x in xs]
    dsc = [dka_bn(20, 20, 3, 20, 4), dka_bn(40, 40, 3, 40, 4),
           dka_bn(40, 40, 3, 40, 2) + dka_bn(40, 40, 5, 40, 2),
           sum(cbn(40, 40, 3 + 2 * i, 40) for i in range(4))]
    dcm = conv_b(20, 1) + conv_b(40, 1) + conv_b(80, 1) + cbn(300, 37) + conv_b(37, 300)
    assert params(dite) == dcm + sum(dsc) + sum(gcm(h, r) for h, r in zip(halves, (4, 4, 8, 8)))
    with pytest.raises(ValueError, match="did you mean 'dcm'"):
        CCWBlock([40, 80], context="dcn")
    with pytest.raises(ValueError, match="split"):
        CCWBlock([41, 80])


def test_transition_fusion_head():
    t = Transition([32], [40, 80])
    ys = t([torch.randn(1, 32, 16, 12)])
    assert [y.shape for y in ys] == [(1, 40, 16, 12), (1, 80, 8, 6)]
    assert params(t) == 2 * cbn(32, 32, 3, 32) + cbn(32, 40) + cbn(32, 80)
    assert isinstance(Transition([40, 80], [40, 80, 160]).branches[0], nn.Identity)
    xs = [torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)]
    clean = Fusion([8, 16], step="dwsep")
    assert params(clean) == cbn(16, 8) + cbn(8, 8, 3, 8) + cbn(8, 16)
    assert isinstance(clean.relu, nn.ReLU) and isinstance(clean.paths[0][1][1], nn.Upsample)
    clean.eval()
    up, down = clean.paths[0][1], clean.paths[1][0]
    with torch.no_grad():
        ys = clean(xs)
        torch.testing.assert_close(ys[0], F.relu(xs[0] + up(xs[1])))
        torch.testing.assert_close(ys[1], F.relu(down(xs[0]) + xs[1]))
    with pytest.raises(ValueError, match="did you mean 'released'"):
        Fusion([8, 16], form="releasd")
    assert len(Fusion([8, 16, 32], step="conv3x3", num_outputs=1)(xs + [torch.randn(1, 32, 2, 2)])) == 1
    head = IterativeHead([40, 80, 160, 320])
    assert [y.shape[1] for y in head(_branches())] == [40, 40, 80, 160]  # each mapped one branch up
    assert params(head) == sum(cbn(a, a, 3, a) + cbn(a, b) for a, b in
                               ((320, 160), (160, 80), (80, 40), (40, 40)))


@pytest.mark.parametrize("form, relu_in_place", [("released", False), ("released_inplace_relu", True)])
def test_released_fusion_sums_into_branch_0(form, relu_in_place):
    """The released code adds in place into branch 0's tensor: branch 0 enters twice, and output 1
    reads the fused branch 0 (after the ReLU only when that is in place too)."""
    x0, x1 = torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)
    fuse = Fusion([8, 16], step="dwsep", form=form).eval()
    assert fuse.relu.inplace is relu_in_place
    up, down = fuse.paths[0][1], fuse.paths[1][0]
    with torch.no_grad():
        fused0 = 2 * x0 + up(x1)
        seen_by_1 = F.relu(fused0) if relu_in_place else fused0
        want = [F.relu(fused0), F.relu(2 * down(seen_by_1) + x1)]
        xs = [x0.clone(), x1.clone()]
        ys = fuse(xs)
    torch.testing.assert_close(ys[0], want[0])
    torch.testing.assert_close(ys[1], want[1])
    torch.testing.assert_close(xs[0], seen_by_1)  # the caller's branch 0 now holds the fused sum
    assert (ys[0] is xs[0]) is relu_in_place


def test_stems():
    x = torch.randn(2, 3, 64, 48)
    assert HRNetStem()(x).shape == (2, 64, 16, 12) and params(HRNetStem()) == cbn(3, 64, 3) + cbn(64, 64, 3)
    lite = LiteStem()
    assert lite(x).shape == (2, 32, 16, 12)
    assert params(lite) == (cbn(3, 32, 3) + cbn(16, 16, 3, 16) + cbn(16, 16)
                            + cbn(16, 32) + cbn(32, 32, 3, 32) + cbn(32, 16))
    dgc = DGCStem(num_kernels=4)
    assert dgc(x).shape == (2, 32, 16, 12)
    a = dka_bn(16, 16, 3, 16, 4) + gcm(16, 4) + dka_bn(16, 16, 1, 1, 4)
    b = (dka_bn(16, 16, 3, 16, 4) + gcm(16, 4) + dka_bn(16, 4, 1, 1, 4) + dka_bn(4, 16, 1, 1, 4)
         + dka_bn(16, 16, 3, 16, 4))
    assert params(dgc) == cbn(3, 32, 3) + a + b
