"""A design-space grid: every combination of settings of one base model, written in the name grammar
(`dite18@num_kernels=1-1-1-1,context=crw`), at every input size and batch asked for.

A point is one (model, input, batch): the store keys its measurement by exactly these, so a sweep
over two inputs is two points per combination. A combination that changes nothing is the base itself
(named so, and measured once); one that equals a registered reference model in every design field is
that model (so its reported accuracy labels it). Fields and values are checked here, against the base's
own settings, before anything is built: an unknown field, a field with no values, a value of the
wrong type or a choice name no block takes is one line.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..common import UsageError
from .planning import parse_input
from .store import safe_name


@dataclass(frozen=True)
class Point:
    """One row of a sweep: `label` names it in the table (the model name, plus the input and batch
    when the sweep has several), `name` is the model in the name grammar, `base` / `base_name` the
    label and model it is compared against (None for the base), `coords` its grid values as text."""

    label: str
    name: str
    shape: tuple[int, ...]
    batch: int
    base: str | None = None
    base_name: str | None = None
    coords: dict = field(default_factory=dict, compare=False)


def parse_grid(spec, grid) -> dict[str, list]:
    """{field: [parsed values]} from "FIELD=V1,V2,..." texts (or a {field: values} dict), checked
    against `spec`'s settings. Tuple values are written 4-4-2-1 (or in parentheses: (4,4,2,1))."""
    from ..models.spec import _split_top, check_choice, check_settings, parse_value

    if isinstance(grid, dict):
        items = [(k, v.split(",") if isinstance(v, str) else list(v)) for k, v in grid.items()]
    else:
        items = []
        for text in grid or ():
            key, eq, values = (s.strip() for s in str(text).partition("="))
            if not eq or not key:
                raise UsageError(f"--grid {text!r} is not FIELD=V1,V2,... (e.g. context=dcm,crw)")
            items.append((key, _split_top(values)))
    if not items:
        raise UsageError(f"--grid is empty: give at least one FIELD=V1,V2,... (the fields of "
                         f"{spec.name}: {', '.join(spec.settings())})")
    out: dict[str, list] = {}
    for key, values in items:
        check_settings(spec, [key])
        if key in out:
            raise UsageError(f"--grid names {key} twice; give its values once: {key}=V1,V2,...")
        if not values:  # "context=": a field with no value would make a grid of no points
            raise UsageError(f"--grid {key}= has no values; give them as {key}=V1,V2,...")
        like = getattr(spec, key)
        parsed = []
        for v in values:
            text = str(v).strip() if not isinstance(v, tuple) else "-".join(map(str, v))
            if not text:
                raise UsageError(f"--grid {key}= has an empty value")
            try:
                value = parse_value(text, like)
                # a name no block takes fails in every combination: a usage error now, not a
                # sweep of invalid rows (a combination of valid names stays an invalid row)
                check_choice(spec, key, value)
            except ValueError as exc:
                raise UsageError(f"--grid {key}: {exc}") from None
            if value not in parsed:
                parsed.append(value)
        out[key] = parsed
    return out


def show(value) -> str:
    """A setting value as the name grammar writes it (tuples 4-4-2-1, bools true/false)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "-".join(map(str, value)) if isinstance(value, tuple) else str(value)


def combinations(spec, grid: dict[str, list]) -> list[tuple[str, dict]]:
    """Every combination as (model name, {field: value text}), in grid order, without repeats."""
    seen, out = set(), []
    for values in itertools.product(*grid.values()):
        coords = dict(zip(grid, values))
        changed = [f"{k}={show(v)}" for k, v in coords.items() if v != getattr(spec, k)]
        name = f"{spec.name}@{','.join(changed)}" if changed else spec.name
        name = published(name) or name
        if name not in seen:
            seen.add(name)
            out.append((name, {k: show(v) for k, v in coords.items()}))
    return out


def published(name: str) -> str | None:
    """The registered reference model whose every design field equals this name's spec, if any."""
    from ..models import get_spec, list_models

    try:
        spec = get_spec(name)
    except ValueError:
        return None  # an invalid combination: planning it says why
    design = {f: getattr(spec, f) for f in spec.settings()}
    for other in map(get_spec, list_models()):
        if other.base is None and type(other) is type(spec) and \
                {f: getattr(other, f) for f in other.settings()} == design:
            return other.name
    return None


def parse_inputs(inputs, default) -> list[tuple[int, ...]]:
    """--input "256x192,384x288" (or a list of texts / (C, H, W) tuples) -> [(C, H, W), ...]."""
    if not inputs:
        return [tuple(default)]
    texts = inputs.split(",") if isinstance(inputs, str) else list(inputs)
    shapes = [tuple(t) if isinstance(t, tuple) else parse_input(str(t), default) for t in texts]
    return list(dict.fromkeys(shapes))


def parse_batches(batches) -> list[int]:
    """--batch "1,8" (or a list of ints) -> [1, 8], each at least 1."""
    texts = str(batches).split(",") if isinstance(batches, (str, int)) else list(batches)
    out = []
    for t in texts:
        try:
            b = int(str(t).strip())
        except ValueError:
            b = 0
        if b < 1:
            raise UsageError(f"--batch takes positive integers, comma-separated (e.g. 1,8); got "
                             f"{batches!r}")
        out.append(b)
    return list(dict.fromkeys(out))


def label(name: str, shape, batch: int, *, inputs: bool, batches: bool, device: str | None = None) -> str:
    """A row's name: the model, with the input / batch / device added only where a table holds
    several (a sweep at one input reads like a comparison)."""
    text = name
    if inputs:
        text += " " + "x".join(map(str, shape[1:] if len(shape) == 3 else shape))
    if batches:
        text += f" b{batch}"
    return text + (f" on {device}" if device else "")


def points(spec, grid: dict[str, list], shapes, batches) -> list[Point]:
    """Every point, grouped by (input, batch): the base first, then the combinations in grid order."""
    combos = combinations(spec, grid)
    base_coords = {k: show(getattr(spec, k)) for k in grid}
    out = []
    for shape in shapes:
        for batch in batches:
            def lab(name):
                return label(name, shape, batch, inputs=len(shapes) > 1, batches=len(batches) > 1)
            out.append(Point(lab(spec.name), spec.name, shape, batch, coords=base_coords))
            out += [Point(lab(name), name, shape, batch, lab(spec.name), spec.name, coords)
                    for name, coords in combos if name != spec.name]
    return out


def default_folder(base: str, grid: dict[str, list], shapes, batches) -> Path:
    """reports/sweep/BASE-DIGEST: the digest of the grid, inputs and batches, so that two different
    sweeps of one base never share a folder."""
    what = {"grid": {k: [show(v) for v in vs] for k, vs in grid.items()},
            "inputs": [list(s) for s in shapes], "batches": list(batches)}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:8]
    return Path("reports") / "sweep" / f"{safe_name(base)}-{digest}"
