"""Closed-form conv multiply-adds of the Lite-HRNet, Dite-HRNet and SKNet families, written from
the widths, block structure and resolutions of /work/shared/spec/architectures.md (not computed by
archlab), checked against archlab's "paper-conv" count: multiply-adds of every convolution call
(functional ones included) and of linear layers; no bias, BN, activations, upsampling, pooling or
plain matrix products."""
import pytest


def conv(cin, cout, k, positions, groups=1):
    """Multiply-adds of one k x k convolution call, no bias."""
    return cin // groups * cout * k * k * positions


def dw(c, k, positions):
    return conv(c, c, k, positions, groups=c)


def _pose_res(h, w):
    return [(h // 4 // 2 ** i) * (w // 4 // 2 ** i) for i in range(4)]


def _dwsep(cin, cout, positions):
    """The Lite/Dite conv step: dw 3x3 (stride folded into `positions`) then 1x1."""
    return dw(cin, 3, positions) + conv(cin, cout, 1, positions)


def _lite_skeleton(c, res, stem_out, modules, block_macs):
    """Transitions, blocks (block_macs(n_branches) per block), released fusion and iterative head
    of the shared Lite/Dite skeleton, in closed form. Released fusion: output 0 sums
    f_0j (1x1) for j > 0; output i > 0 runs f_i0 twice and f_ij once for every other j != i;
    a downsampling path j -> i is i - j dwsep steps (C_j kept until the last, which makes C_i)."""
    macs = 0
    prev = [stem_out]
    for stage, (n_modules, n_blocks) in enumerate(modules):
        n = stage + 2
        for b in range(n):  # transition
            if b < len(prev):
                if prev[b] != c[b]:
                    macs += _dwsep(prev[b], c[b], res[b])
            else:
                macs += _dwsep(prev[-1], c[b], res[b])
        prev = list(c[:n])
        for _ in range(n_modules):
            macs += n_blocks * block_macs(n)
            for i in range(n):
                for j in range(n):
                    if j == i:
                        continue
                    times = 2 if (j == 0 and i > 0) else 1
                    if j > i:
                        f = conv(c[j], c[i], 1, res[j])
                    else:
                        f = sum(_dwsep(c[j], c[i] if k == i - j - 1 else c[j], res[j + k + 1])
                                for k in range(i - j))
                    macs += times * f
    # iterative head: lowest up, DWSep C_i -> C_{i-1} (C_0 -> C_0 last)
    for i in range(3, -1, -1):
        macs += _dwsep(c[i], c[max(i - 1, 0)], res[i])
    return macs


def _lite_stem(h, w):
    """ConvBN(3->32, s2); a: dw s2 + 1x1 16->16; b: 1x1 16->32 (1/2), dw s2 (32), 1x1 32->16."""
    half, quarter = (h // 2) * (w // 2), (h // 4) * (w // 4)
    return (conv(3, 32, 3, half) + dw(16, 3, quarter) + conv(16, 16, 1, quarter)
            + conv(16, 32, 1, half) + dw(32, 3, quarter) + conv(32, 16, 1, quarter))


def lite_conv_macs(c=(40, 80, 160, 320), h=256, w=192, keypoints=17, modules=(2, 4, 2), blocks=2):
    """Lite-HRNet: the Lite stem, CCW blocks (on the halves C_i/2: cross-resolution weighting
    ΣC/2 -> ΣC/16 -> ΣC/2 at the lowest resolution, dw 3x3 per branch, spatial weighting
    C/2 -> C/8 -> C/2 on the pooled 1x1), the released fusion (branch 0's downsampling run twice),
    the iterative head and a 1x1 head on C_0."""
    res = _pose_res(h, w)

    def ccw(n):
        half = [c[i] // 2 for i in range(n)]
        s = sum(half)
        macs = 2 * conv(s, s // 8, 1, res[n - 1])
        for i in range(n):
            macs += dw(half[i], 3, res[i]) + 2 * conv(half[i], half[i] // 4, 1, 1)
        return macs
    return (_lite_stem(h, w) + _lite_skeleton(c, res, 32, [(m, blocks) for m in modules], ccw)
            + conv(c[0], keypoints, 1, res[0]))


def naive_lite_conv_macs(c=(30, 60, 120, 240), h=256, w=192, keypoints=17, modules=(2, 4, 2),
                         blocks=2):
    """Naive Lite-HRNet: as Lite-HRNet, with a ShuffleNetV2 unit per branch as the block
    (1x1, dw 3x3, 1x1 on the half C_i/2) and a C_0 -> K head."""
    res = _pose_res(h, w)

    def shuffle(n):
        return sum(2 * conv(c[i] // 2, c[i] // 2, 1, res[i]) + dw(c[i] // 2, 3, res[i])
                   for i in range(n))
    return (_lite_stem(h, w) + _lite_skeleton(c, res, 32, [(m, blocks) for m in modules], shuffle)
            + conv(c[0], keypoints, 1, res[0]))


def _dka_attention(cin, k):
    """Kernel attention of a DKA conv with k > 1 kernels: two 1x1 convs on the pooled 1x1 map
    (Cin -> M -> K, M = Cin/4). The kernel mixing is a plain torch.mm (not counted by paper-conv)."""
    return 0 if k == 1 else conv(cin, cin // 4, 1, 1) + conv(cin // 4, k, 1, 1)


def _gcm(ch, r, positions):
    """GCM: the C -> 1 mask conv at every position, then C -> C/r -> C on the context vector
    (the context itself is a matmul, not counted)."""
    return conv(ch, 1, 1, positions) + 2 * conv(ch, ch // r, 1, 1)


def dite_conv_macs(c=(40, 80, 160, 320), h=256, w=192, keypoints=17, modules=(2, 4, 2), blocks=2,
                   kernels=(4, 4, 2, 1), groups=(1, 1, 2, 4), gcm_r=(4, 4, 8, 8), dcm_r=8):
    """Dite-HRNet. Counted: every conv call at its real shape (each DKA conv once, as one grouped
    conv of batch 1 with the aggregated kernel) and every kernel-attention 1x1 conv (Cin -> Cin/4
    -> K on the pooled input); not counted: the kernel aggregation (a torch.mm), GCM's and DCM's
    pooling matmuls. Parts: the DGC stem (static 3 -> 32 s2; a: DKA dw s2, GCM(4), DKA 1x1
    16 -> 16; b: DKA dw s1, GCM(4), DKA 1x1 16 -> 4, DKA 1x1 4 -> 16, DKA dw s2; stem kernels K=4),
    DMC blocks on the halves C_i/2 (DCM: C -> 1 mask convs on every branch but the lowest,
    ΣC/2 -> ΣC/16 -> ΣC/2 at the lowest resolution; DSC: G_b parts, part i a dw (3+2i)^2 DKA conv
    with K_b kernels; GCM with r_b), the Lite skeleton's static transitions, released fusion and
    iterative head, and a C_0 -> K head."""
    res = _pose_res(h, w)
    half_res, quarter = (h // 2) * (w // 2), (h // 4) * (w // 4)
    stem = conv(3, 32, 3, half_res)
    # branch a
    stem += _dka_attention(16, 4) + dw(16, 3, quarter) + _gcm(16, 4, quarter)
    stem += _dka_attention(16, 4) + conv(16, 16, 1, quarter)
    # branch b
    stem += _dka_attention(16, 4) + dw(16, 3, half_res) + _gcm(16, 4, half_res)
    stem += _dka_attention(16, 4) + conv(16, 4, 1, half_res)
    stem += conv(4, 1, 1, 1) + conv(1, 4, 1, 1) + conv(4, 16, 1, half_res)  # M = 4 // 4 = 1
    stem += _dka_attention(16, 4) + dw(16, 3, quarter)

    def dmc(n):
        half = [c[i] // 2 for i in range(n)]
        s = sum(half)
        macs = sum(conv(half[i], 1, 1, res[i]) for i in range(n - 1))
        macs += 2 * conv(s, s // dcm_r, 1, res[n - 1])
        for b in range(n):
            g, k = groups[b], kernels[b]
            parts = [half[b] // g] * g
            parts[0] += half[b] - sum(parts)
            for i, p in enumerate(parts):
                macs += _dka_attention(p, k) + dw(p, 3 + 2 * i, res[b])
            macs += _gcm(half[b], gcm_r[b], res[b])
        return macs
    return (stem + _lite_skeleton(c, res, 32, [(m, blocks) for m in modules], dmc)
            + conv(c[0], keypoints, 1, res[0]))


def sknet_conv_macs(size=224, classes=1000, units=(3, 4, 6, 3), widths=(128, 256, 512, 1024),
                    groups=32):
    """SKNet-50: 7x7 s2 stem (3 -> 64), 3x3 s2 max-pool, then per unit a 1x1 in -> C at the input
    resolution, two grouped 3x3 paths (G = 32, the second dilated) at the unit's output
    resolution, the selection 1x1s C -> d -> 2C on the pooled 1x1 (d = max(C/16, 32)), a 1x1
    C -> 2C, and for a stage's first unit a strided 1x1 in -> 2C projection; a 2048 -> classes
    linear."""
    side = size // 4
    macs = conv(3, 64, 7, (size // 2) ** 2)
    cin = 64
    for stage, (n, ch) in enumerate(zip(units, widths)):
        for u in range(n):
            stride = 2 if (stage > 0 and u == 0) else 1
            out_side = side // stride
            pos_in, pos_out = side * side, out_side * out_side
            d = max(ch // 16, 32)
            macs += conv(cin, ch, 1, pos_in) + 2 * conv(ch, ch, 3, pos_out, groups=groups)
            macs += conv(ch, d, 1, 1) + conv(d, 2 * ch, 1, 1) + conv(ch, 2 * ch, 1, pos_out)
            if u == 0:
                macs += conv(cin, 2 * ch, 1, pos_out)
            cin, side = 2 * ch, out_side
    return macs + cin * classes


CLOSED_FORMS = {
    "lite18": lite_conv_macs,
    "naive_lite18": naive_lite_conv_macs,
    "dite18": dite_conv_macs,
    "sknet50": sknet_conv_macs,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_conv_macs_equal_their_closed_form(name, reference_counts):
    """A check archlab did not compute: the paper-conv count against the closed form."""
    assert reference_counts(name).count("paper-conv") == CLOSED_FORMS[name]()
