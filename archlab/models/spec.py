"""Frozen model specs: a model is data, and a design-choice variant is a spec derived from another.

`ModelSpec` holds what every model shares (name, family, default input, lineage, golden numbers and
snapshots);
each family subclasses it with its own fields and a `build()`. Variants are made with
`spec.derive(name, change, field=value, ...)`, which records the base and what changed.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, fields, replace

from torch import nn

from ..blocks.conv import choose
from ..common import UsageError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    input_size: tuple[int, int, int]  # (C, H, W) the model is profiled at by default
    base: str | None = None  # the spec this one was derived from (None for a reference model)
    change: str = ""  # one line: what this variant changes, and from what
    # goldens: independent of archlab, from the authors' released code
    golden_params: int | None = None  # exact parameter count (head included)
    golden_fvcore: int | None = None  # fvcore FlopCountAnalysis total, batch 1, eval, input_size
    # a snapshot, NOT a golden: archlab's own raw counts under its conventions (batch 1, eval,
    # input_size), recorded so that a change to a formula or a block shows; regenerate them with
    # `python benchmarks/snapshots.py` when a change is meant
    snapshot_counts: tuple[tuple[str, int], ...] = ()
    reported: tuple[tuple[str, float], ...] = ()  # authors' published figures, e.g. ("coco_ap", 64.8)
    # A variant's own statement of where its change lands: module-path patterns (fnmatch; a pattern
    # also covers everything below the paths it matches). Tests check the variant's module tree
    # differs from its base's only there.
    touches: tuple[str, ...] = ()

    def build(self) -> nn.Module:  # pragma: no cover - every family overrides it
        raise NotImplementedError(f"{type(self).__name__} does not define build()")

    def output_shape(self, batch: int, input_size=None) -> tuple[int, ...]:  # pragma: no cover
        """The shape the built model returns for a (batch, *input_size) input."""
        raise NotImplementedError(f"{type(self).__name__} does not define output_shape()")

    def derive(self, name: str, change: str, **changes) -> "ModelSpec":
        """A variant: this spec with `changes` applied, remembering its base and what changed.

        Golden and reported numbers belong to the exact published model, so a variant drops them.
        `touches=(...)` (module-path patterns) may be passed with the changes; it is not inherited.
        """
        touches = tuple(changes.pop("touches", ()))
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise UsageError(f"{self.name} has no setting {sorted(unknown)}; "
                             f"settings: {', '.join(self.settings())}")
        return replace(self, name=name, base=self.name, change=change, golden_params=None,
                       golden_fvcore=None, snapshot_counts=(), reported=(), touches=touches,
                       **changes)

    def choices(self, field: str) -> dict | None:
        """The build table whose names `field` may take (any name a block of this family accepts),
        or None for a field that is not a choice of names. A family with choice fields overrides it."""
        return None

    def settings(self) -> list[str]:
        """The design-choice fields a user may change (everything but identity and golden data)."""
        return [f.name for f in fields(self) if f.name not in _META]

    def to_dict(self) -> dict:
        return {"class": type(self).__name__, **dataclasses.asdict(self)}

    def derive_from(self, text: str) -> "ModelSpec":
        """A variant from settings text "field=value[,field=value]" (the "@" part of a model name);
        values parse by the field's current type, see `parse_value`."""
        changes = parse_settings(self, text)
        change = "; ".join(f"{k}: {_show(getattr(self, k))} -> {_show(v)}" for k, v in changes.items())
        return self.derive(f"{self.name}@{text}", change, **changes)


def _show(v) -> str:
    return "-".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses/brackets: "a=(1,2),b=3" -> ["a=(1,2)", "b=3"]."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch in "([") - (ch in ")]")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur] if cur or parts else []


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def parse_value(text: str, like=None):
    """Parse one setting value, guided by the type of `like` (the field's current value).

    bools: true/false/yes/no/on/off/1/0; ints; tuples as 1-1-2-4, 1,1,2,4 or (1,1,2,4);
    anything else is a string. With no `like`, the first of int, bool, tuple that fits, else str.
    """
    t = text.strip()
    if isinstance(like, bool) or (like is None and t.lower() in _TRUE | _FALSE - {"1", "0"}):
        if t.lower() not in _TRUE | _FALSE:
            raise UsageError(f"'{text}' is not a boolean (use true or false)")
        return t.lower() in _TRUE
    if isinstance(like, tuple) or (like is None and t[:1] in ("(", "[")):
        inner = t.strip("()[] ")
        items = [i for i in inner.replace("-", ",").split(",") if i.strip()]
        return tuple(parse_value(i, like[0] if like else 0) for i in items)
    if isinstance(like, int) or (like is None and t.lstrip("-").isdigit()):
        try:
            return int(t)
        except ValueError:
            raise UsageError(f"'{text}' is not an integer") from None
    return t


def check_settings(spec: ModelSpec, keys) -> None:
    """Raise ValueError naming the closest setting for any key that is not one of spec.settings()."""
    allowed = spec.settings()
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.0)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"{spec.name} has no setting '{key}'{hint} (settings: {', '.join(allowed)})")


def check_choice(spec: ModelSpec, key: str, value) -> None:
    """Raise UsageError (a ValueError, with the build tables' own message: the choices and the
    closest) for a value of a choice field that no block of spec's family takes; others pass."""
    table = spec.choices(key)
    if table is not None:
        try:
            choose(table, value, key)
        except ValueError as exc:  # the user's name, not a block's bug: exit 2 on the command line
            raise UsageError(str(exc)) from None


def parse_settings(spec: ModelSpec, text: str) -> dict:
    """"field=value[,field=value]" -> {field: parsed value}; unknown fields, a field given twice
    and an unknown choice name raise ValueError."""
    changes = {}
    for item in _split_top(text):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key:
            raise UsageError(f"setting '{item}' is not field=value (in '{text}')")
        check_settings(spec, [key])
        if key in changes:  # last-one-wins would run one value under a name that shows both
            raise UsageError(f"{spec.name}@{text} sets {key} twice; give each field once")
        changes[key] = parse_value(value, getattr(spec, key))
        check_choice(spec, key, changes[key])
    if not changes:
        raise UsageError(f"no settings after '@' in '{spec.name}@{text}'")
    return changes


_META = {f.name for f in fields(ModelSpec)} - {"input_size"}
