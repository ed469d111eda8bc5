"""Frozen model specs: a model is data, and a design-choice variant is a spec derived from another.

`ModelSpec` holds what every model shares (name, family, default input, lineage, golden numbers);
each family subclasses it with its own fields and a `build()`. Variants are made with
`spec.derive(name, change, field=value, ...)`, which records the base and what changed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields, replace

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    input_size: tuple[int, int, int]  # (C, H, W) the model is profiled at by default
    base: str | None = None  # the spec this one was derived from (None for a reference model)
    change: str = ""  # one line: what this variant changes, and from what
    golden_params: int | None = None  # exact parameter count (head included)
    golden_fvcore: int | None = None  # fvcore FlopCountAnalysis total, batch 1, eval, input_size
    reported: tuple[tuple[str, float], ...] = ()  # authors' published figures, e.g. ("coco_ap", 64.8)

    def build(self) -> nn.Module:  # pragma: no cover - every family overrides it
        raise NotImplementedError(f"{type(self).__name__} does not define build()")

    def derive(self, name: str, change: str, **changes) -> "ModelSpec":
        """A variant: this spec with `changes` applied, remembering its base and what changed.

        Golden and reported numbers belong to the exact published model, so a variant drops them.
        """
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"{self.name} has no setting {sorted(unknown)}; "
                             f"settings: {', '.join(self.settings())}")
        return replace(self, name=name, base=self.name, change=change, golden_params=None,
                       golden_fvcore=None, reported=(), **changes)

    def settings(self) -> list[str]:
        """The design-choice fields a user may change (everything but identity and golden data)."""
        return [f.name for f in fields(self) if f.name not in _META]

    def to_dict(self) -> dict:
        return {"class": type(self).__name__, **dataclasses.asdict(self)}


_META = {f.name for f in fields(ModelSpec)} - {"input_size"}
