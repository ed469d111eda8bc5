"""A training step's MACs next to torch.utils.flop_counter.FlopCounterMode's.

FlopCounterMode counts convolutions and matrix products (attention included), forward and
backward, at 2 FLOPs a multiply-add; archlab's `torchvision` convention is the same scope, so
`archlab step MACs [torchvision]` x 2 should equal its total. Two corrections make the comparison
fair to the reference:
- FlopCounterMode has no formula for the CPU SDPA ops (`_scaled_dot_product_flash_attention_for_cpu`
  and its backward): they are mapped onto its own sdpa formulas ("SDPA mapped");
- its convolution_backward leaves the groups out of the weight gradient (a depthwise conv's would
  be C times too many): divided by the groups here, as tests/test_training.py does.
What remains is archlab's own: the softmax backward's multiply-add (1 per attention score), which
archlab counts inside a fused SDPA backward and FlopCounterMode does not count.

    python benchmarks/training_flop_counter.py [--models vit_b_16,resnet18,lite18] [--batch 2]

Models: archlab's registered names, or torchvision's (needs torchvision; built with weights=None,
nothing downloaded). Runs on the CPU.
"""
from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import (FlopCounterMode, conv_backward_flop, sdpa_backward_flop,
                                     sdpa_flop)

import archlab
from archlab.profile import profile_module
from archlab.profile.train.autograd import loss_of

aten = torch.ops.aten


def _conv_backward(grad_out_shape, x_shape, w_shape, *args, **kwargs):
    whole = conv_backward_flop.__wrapped__(grad_out_shape, x_shape, w_shape, *args, **kwargs)
    groups, mask = args[6], args[7]
    weight = conv_backward_flop.__wrapped__(grad_out_shape, x_shape, w_shape, *args[:7],
                                            [False, mask[1], False], *args[8:], **kwargs)
    return whole - weight + weight // groups


def _cpu_flash(q, k, v, *args, **kwargs):  # (query, key, value, ...) as the CUDA kernels
    return sdpa_flop.__wrapped__(q, k, v)


def _cpu_flash_backward(grad_out, q, k, v, *args, **kwargs):
    return sdpa_backward_flop.__wrapped__(grad_out, q, k, v)


MAPPING = {aten.convolution_backward: _conv_backward,
           aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash,
           aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_backward}


def build(name: str):
    """(model, input size): a registered archlab model or a torchvision classifier at 224."""
    try:
        spec = archlab.get_spec(name)
        return archlab.build(name), tuple(spec.input_size)
    except ValueError:
        import torchvision

        return torchvision.models.get_model(name, weights=None), (3, 224, 224)


def compare(name: str, batch: int) -> dict:
    torch.manual_seed(0)
    model, size = build(name)
    rep = profile_module(model, size, batch=batch, mode="train", latency=False, memory=False,
                         conventions=("archlab", "torchvision"))
    ours = rep.count("torchvision") + rep.totals["macs_backward[torchvision]"]
    model = model.train()
    counter = FlopCounterMode(display=False, custom_mapping=MAPPING)
    with counter:
        loss_of(model(torch.randn(batch, *size))).backward()
    theirs = counter.get_total_flops() // 2
    backward = rep.coverage.get("backward")  # None: a version without the backward's ledger
    return {"model": name, "archlab": ours, "flop_counter": theirs, "gap": ours - theirs,
            "uncounted_backward": sorted(backward["uncounted"]) if backward else ["(no ledger)"],
            "macs_step": rep.totals["macs_step"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="vit_b_16,resnet18,lite18")
    ap.add_argument("--batch", type=int, default=2)
    args = ap.parse_args(argv)
    for name in args.models.split(","):
        r = compare(name, args.batch)
        print(f"{r['model']}: step MACs [torchvision] archlab {r['archlab']:,} vs FlopCounterMode "
              f"{r['flop_counter']:,}: gap {r['gap']:+,} "
              f"({100 * r['gap'] / r['flop_counter']:+.3f} %); "
              f"archlab step MACs [archlab] {r['macs_step']:,}; uncounted in the backward: "
              f"{', '.join(r['uncounted_backward']) or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
