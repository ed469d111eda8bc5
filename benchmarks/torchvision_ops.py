"""archlab's MACs next to the operation counts torchvision publishes for its models.

torchvision's weight enums carry `meta["_ops"]`, the "GFLOPS" of its model tables: billions of
multiply-adds at 224x224, batch 1, counted over convolutions and matrix products (attention's QK^T
and AV included). archlab counts every operator; its conv and matmul categories are the same
scope, so their sum in units of 1e9, rounded to the digits torchvision prints, should equal it.

    python benchmarks/torchvision_ops.py [--models resnet18,mobilenet_v2,vit_b_16]

Needs torchvision; builds the models with weights=None (nothing is downloaded: the published
count is read from the enum) and runs one counting pass each on the CPU.
"""
from __future__ import annotations

import argparse
import sys

import archlab
from archlab.profile import profile_module

# model builder -> its weights enum; the published count is the same for every entry of one enum
# at 224x224 except where a recipe changes the input size (ViT's SWAG_E2E runs at 384)
MODELS = {"resnet18": "ResNet18_Weights", "mobilenet_v2": "MobileNet_V2_Weights",
          "vit_b_16": "ViT_B_16_Weights"}


def printed_digits(x: float) -> int:
    """Decimals torchvision wrote for a published count (17.564 -> 3)."""
    text = repr(x)
    return len(text.split(".")[1]) if "." in text else 0


def compare(name: str) -> dict:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None)
    published = getattr(torchvision.models, MODELS[name]).DEFAULT.meta["_ops"]
    rep = profile_module(model, (3, 224, 224), conventions=("archlab",), latency=False,
                         memory=False)
    cats = rep.coverage["categories"]["archlab"]
    conv_matmul = (cats.get("conv", 0) + cats.get("matmul", 0)) / 1e9
    digits = printed_digits(published)
    return {"model": name, "archlab_gmacs": conv_matmul, "published": published,
            "agree": round(conv_matmul, digits) == published, "digits": digits,
            "all_macs": rep.totals["macs"] / 1e9,
            "uncounted": sorted(rep.coverage["uncounted"])}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    import torch
    import torchvision

    print(f"archlab from {archlab.__file__}; torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}")
    print(f"{'model':<14}{'archlab conv+matmul':>21}{'torchvision _ops':>18}  agree  "
          f"{'all archlab MACs':>17}  uncounted ops")
    rows = []
    for name in args.models.split(","):
        r = compare(name)
        rows.append(r)
        print(f"{r['model']:<14}{r['archlab_gmacs']:>21.{r['digits']}f}{r['published']:>18}  "
              f"{'yes' if r['agree'] else 'NO':<5}  {r['all_macs']:>17.3f}  "
              f"{', '.join(r['uncounted']) or '-'}")
    return rows


if __name__ == "__main__":
    sys.exit(0 if all(r["agree"] for r in main()) else 1)
