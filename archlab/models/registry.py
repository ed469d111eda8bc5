"""The one registry of named models: register a spec once, find it by name (the "NAME@field=value"
grammar of zoo.py's docstring included), list names and variants."""
from __future__ import annotations

import difflib
import fnmatch

from ..common import UsageError
from .spec import ModelSpec

_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a spec under its name; a name already taken raises ValueError."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register() takes a ModelSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY:
        raise UsageError(f"model '{spec.name}' is already registered")
    if not spec.name or "@" in spec.name or "," in spec.name:
        raise UsageError(f"model name '{spec.name}' must be non-empty, without '@' or ','")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching an fnmatch pattern, in registration order."""
    return [n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern)]


def list_variants(bases=None) -> list[str]:
    """Each registered design-choice variant preceded by its base, bases first met first: the
    models a comparison of variants measures. `bases` (names) keeps only the variants of those."""
    keep = None if bases is None else {get_spec(b).name for b in bases}
    names: list[str] = []
    for name, spec in _REGISTRY.items():
        if spec.base and (keep is None or spec.base in keep):
            names += [n for n in (spec.base, name) if n not in names]
    if keep is not None and not names:
        raise UsageError(f"no registered variant of {', '.join(sorted(keep))} (archlab list shows them)")
    return names


def get_spec(name: str | ModelSpec) -> ModelSpec:
    """The spec for a registered name, or for "base@field=value,..." (see the module docstring)."""
    if isinstance(name, ModelSpec):
        return name
    base, at, settings = str(name).partition("@")
    lower = {n.lower(): n for n in _REGISTRY}  # names are matched without regard to case
    base = lower.get(base.lower(), base)
    if base not in _REGISTRY:
        close = difflib.get_close_matches(base.lower(), list(lower), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(lower[c]) for c in close)}?" if close else ""
        raise UsageError(f"unknown model '{base}'{hint} (archlab list shows all)")
    spec = _REGISTRY[base]
    return spec.derive_from(settings) if at else spec
