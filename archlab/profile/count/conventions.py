"""THE table of counting conventions: every "FLOPs" figure archlab shows is one of these, by name.

Each convention says what it counts (the rule in words), the unit a raw count is in, the unit it is
published in (a divisor and its label), and how it is computed:
- "dispatch": by the one dispatch-level recorder, which runs the op table of ops.py and credits an
  op's MACs to the convention when `selects(category, op, in_linear_module)` says so — adding such
  a convention is one entry here;
- "module hooks": by per-module rules, the recorder's forward hooks (module_rules.py);
- "fvcore", "thop": by those tools' own rules, run on what the recorder saw (fvcore_rules.py,
  thop_rules.py), or by the tools themselves (external.py) where the recorder cannot stand in.
Everything that shows a convention reads this table — through the report, which carries the
entries of the conventions it was counted under, so a report on disk explains its own numbers.
"""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import Callable

from ...common import UsageError

Selector = Callable[[str, str, bool], bool]  # (op category, op key, inside an nn.Linear) -> counts?


@dataclass(frozen=True)
class Convention:
    name: str
    rule: str  # what it counts, in words
    computed_by: str  # "dispatch" | "module hooks" | "fvcore" | "thop"
    unit: str = "MACs"  # what one raw count is
    divisor: float = 1  # raw count / divisor = the figure as published
    published: str = ""  # the published unit's label, e.g. "M (2^20)"; "" when raw
    selects: Selector | None = None  # dispatch conventions only

    def describe(self) -> dict:
        """The entry as a report carries it (JSON: no selector)."""
        return {k: v for k, v in asdict(self).items() if k not in ("selects", "name")}


def _paper_conv(category: str, op: str, in_linear: bool) -> bool:
    return category == "conv" or (category == "matmul" and (op == "aten.linear" or in_linear))


TABLE: dict[str, Convention] = {c.name: c for c in (
    Convention("archlab", computed_by="dispatch", selects=lambda cat, op, lin: True, rule=(
        "every executed operator with a documented formula, functional calls included: MACs for "
        "multiply-add work (conv, linear, matmul/bmm/einsum, attention, recurrent gates, "
        "normalisation, average pooling, interpolation); elementwise ops, activations, softmax and "
        "FFTs add FLOPs only; 1 multiply-add = 1 MAC = 2 FLOPs")),
    Convention("fvcore", computed_by="fvcore", rule=(
        "fvcore FlopCountAnalysis's op handles: conv, linear, matmul/bmm/einsum, batch norm, "
        "pooling and upsampling; elementwise ops skipped; 1 fused multiply-add = 1; run on the "
        "ops of archlab's counting pass at the level a jit trace records them (equal to "
        "FlopCountAnalysis; fvcore traces the model itself where the pass cannot map an op)")),
    Convention("thop", computed_by="thop", rule=(
        "thop module hooks: only nn.Module layers it knows (conv, linear, BN, activations, pools); "
        "blind to functional calls, so F.conv2d (Dite-HRNet's dynamic convs), matmul and "
        "F.interpolate count 0; thop's own rules, run on the calls of archlab's counting pass")),
    Convention("paper-hook", computed_by="module hooks", divisor=2 ** 20, published="M (2^20)",
               rule=("Lite-/Dite-HRNet README rule: leaf-module hooks, each leaf counted once with "
                     "the shapes of its last call, conv by its kernel shape (+bias), BN = 2 per "
                     "element, ReLU = 1, functional calls 0; published in units of 2^20")),
    Convention("paper-conv", computed_by="dispatch", divisor=2 ** 30, published="G (2^30)",
               selects=_paper_conv, rule=(
                   "HRNet README rule: multiply-adds of convolutions (functional ones included) and "
                   "linear layers, every call; no bias, BN, activations or upsampling; published "
                   "in units of 2^30")),
    Convention("torchvision", computed_by="dispatch", divisor=1e9, published="GFLOPS (1e9 MACs)",
               selects=lambda cat, op, lin: cat in ("conv", "matmul"), rule=(
                   "the rule of the operation counts torchvision publishes with its weights: "
                   "multiply-adds of convolutions and of every matrix product (mm, bmm, matmul, "
                   "addmm, linear, einsum, attention, recurrent gates), nothing else; published in "
                   "units of 1e9 as \"GFLOPS\" although they are MACs")),
)}

# every convention by default; the cheap ones (the recorder's own) where speed matters
DEFAULT_CONVENTIONS = tuple(TABLE)
RECORDER_CONVENTIONS = tuple(n for n, c in TABLE.items() if c.computed_by in ("dispatch", "module hooks"))


def check_conventions(conventions) -> tuple[str, ...]:
    """The names, checked against the table (one line with the closest name when one is unknown)."""
    if isinstance(conventions, str):
        conventions = (conventions,)
    for c in conventions:
        if c not in TABLE:
            close = difflib.get_close_matches(c, list(TABLE), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"unknown convention {c!r}{hint} (choose from {', '.join(TABLE)})")
    return tuple(dict.fromkeys(conventions))


def dispatch_conventions(names) -> list[Convention]:
    """The conventions among `names` that the recorder computes from the op table."""
    return [TABLE[n] for n in names if TABLE[n].computed_by == "dispatch"]


def for_mode(conventions, mode: str) -> tuple[tuple[str, ...], str | None]:
    """The conventions a profile counts under, and a note on what was left out. `conventions=None`
    means the mode's defaults: every convention for inference; for a training step those that can
    count a backward (the recorder's own: fvcore and thop trace or hook an inference forward), the
    others named in the note. Asking for fvcore or thop in train mode by name is a UsageError."""
    if conventions is not None:
        chosen = check_conventions(conventions)
        extra = [c for c in chosen if c not in RECORDER_CONVENTIONS]
        if mode == "train" and extra:
            raise UsageError(f"{', '.join(extra)} count inference only; in train mode choose from "
                             f"{', '.join(RECORDER_CONVENTIONS)}")
        return chosen, None
    if mode != "train":
        return DEFAULT_CONVENTIONS, None
    left = [c for c in DEFAULT_CONVENTIONS if c not in RECORDER_CONVENTIONS]
    return RECORDER_CONVENTIONS, (f"train mode: counted under {', '.join(RECORDER_CONVENTIONS)}; "
                                  f"{', '.join(left)} left out (they count an inference forward "
                                  "only, not a backward)") if left else None
