"""Parameter counts of specs without allocating weights, remembered across runs, so that listing
every model and variant is instant.

A spec's golden count when it has one; otherwise the model is built on the meta device (shapes, no
memory, no initialisation) and the count is kept in a small cache file under the user's cache
folder, keyed by a digest of the spec and archlab's version.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ..common import cache_dir, write_atomic
from .spec import ModelSpec


def _cache_file() -> Path:
    return cache_dir() / "params.json"


def _key(spec: ModelSpec) -> str:
    from .._version import __version__

    text = json.dumps(spec.to_dict(), sort_keys=True, default=str) + __version__
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def spec_params(spec: ModelSpec) -> int:
    """The parameter count of the model a spec builds."""
    if spec.golden_params:
        return spec.golden_params
    path, key = _cache_file(), _key(spec)
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), int):
        return cache[key]
    with torch.device("meta"):
        n = sum(p.numel() for p in spec.build().parameters())
    cache[key] = n
    try:  # a read-only home only costs the next listing its speed
        write_atomic(path, json.dumps(cache))
    except OSError:
        pass
    return n
