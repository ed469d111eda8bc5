"""The public entry points that join the registry to the profiler.

The profiler measures any nn.Module and knows nothing of archlab's models; this is the one place
where a registered name becomes a model, its spec and its default input.
"""
from __future__ import annotations

from torch import nn

from .models import build, get_spec, load_checkpoint
from .profile import paired_latency, profile_module
from .results import Report


def profile(model_or_name: str | nn.Module, input_size: tuple[int, int, int] | None = None, *,
            batch: int = 1, device: str = "cpu", checkpoint=None, **options) -> Report:
    """Profile a registered model (by name, variant grammar included) or any nn.Module.

    input_size is (C, H, W); None means the model's default (a plain nn.Module must be given one).
    checkpoint: weights to load first (a file or a state_dict, see `archlab.load_checkpoint`); the
    report's notes say what was loaded.
    Other keyword options go to `archlab.profile.profile_module` (conventions, latency, memory, ...).
    """
    if isinstance(model_or_name, str):
        spec = get_spec(model_or_name)
        model, name, spec_dict = build(model_or_name), spec.name, spec.to_dict()
        input_size = tuple(input_size or spec.input_size)
    elif isinstance(model_or_name, nn.Module):
        if input_size is None:
            raise ValueError("a plain nn.Module needs input_size=(C, H, W)")
        model, name, spec_dict = model_or_name, type(model_or_name).__name__, {}
    else:
        raise TypeError(f"profile() takes a model name or an nn.Module, not {type(model_or_name).__name__}")
    loaded = load_checkpoint(model, checkpoint) if checkpoint is not None else None
    report = profile_module(model, input_size, batch=batch, device=device, model_name=name,
                            spec=spec_dict, **options)
    if loaded is not None:
        report.notes.append(loaded.note)
    return report


def paired(name: str, base: str, input_size: tuple[int, int, int] | None = None, *, batch: int = 1,
           device: str = "cpu", **options) -> dict:
    """Latency of registered model `name` relative to `base`, the two timed side by side on the
    same input (None: the base's default input). Returns `archlab.profile.paired_latency`'s dict:
    ratio (median of per-round ratios name/base), ratio_p10, ratio_p90, n, and the method."""
    input_size = tuple(input_size or get_spec(base).input_size)
    return paired_latency(build(name), build(base), input_size, batch=batch, device=device, **options)
