"""SKNet-50: exact parameter and fvcore counts, forward, and clear errors for bad input."""
import pytest
import torch

from archlab.models.resnet import SKNET50, ResNet


@pytest.fixture(scope="module")
def sknet():
    return SKNET50.build().eval()


def test_params_exact(sknet):
    assert isinstance(sknet, ResNet)
    assert sum(p.numel() for p in sknet.parameters()) == SKNET50.golden_params == 27_479_784


def test_forward_small(sknet):
    with torch.no_grad():
        assert sknet(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.slow
@pytest.mark.slow
def test_conv_and_linear_macs(reference_counts):
    # fvcore's conv + linear, paper-conv's count: the ~4.463 G multiply-adds SKNet-50 is known by
    assert reference_counts("sknet50").count("paper-conv") == 4_462_710_784


@pytest.mark.parametrize("shape, match", [
    ((1, 1, 64, 64), "3 input channels"),
    ((3, 64, 64), r"\(B, C, H, W\)"),
    ((1, 3, 16, 64), ">= 32"),
    ((1, 3, 64, 20), ">= 32"),
])
def test_bad_input(sknet, shape, match):
    with pytest.raises(ValueError, match=match):
        sknet(torch.randn(*shape))


def test_training_needs_batch_2(sknet):
    sknet.train()
    try:
        with pytest.raises(ValueError, match="batch >= 2"):
            sknet(torch.randn(1, 3, 64, 64))
    finally:
        sknet.eval()


def test_variants_derive():
    small = SKNET50.derive("sknet_tiny", "one unit per stage, 10 classes",
                           depths=(1, 1, 1, 1), num_classes=10, sk_paths="3x3+5x5")
    assert small.base == "sknet50" and small.golden_params is None
    model = small.build().eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="did you mean"):
        SKNET50.derive("bad", "typo", sk_paths="dilatd").build()
