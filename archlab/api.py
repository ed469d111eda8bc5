"""The public entry points that join the registry to the profiler.

The profiler measures any nn.Module and knows nothing of archlab's models; this is the one place
where a registered name becomes a model, its spec and its default input.
"""
from __future__ import annotations

from torch import nn

from .common import UsageError
from .models import build, get_spec, load_checkpoint
from .profile import paired_latency, profile_module
from .results import Report


def profile(model_or_name: str | nn.Module, input_size: tuple[int, int, int] | None = None, *,
            example_inputs=None, example_kwargs: dict | None = None, input_constructor=None,
            batch: int = 1, device: str = "cpu", checkpoint=None, **options) -> Report:
    """Profile a registered model (by name, variant grammar included) or any nn.Module.

    The model's inputs, one of three ways (archlab.profile.core.inputs): `input_size=(C, H, W)`, a
    random float image batch (None: a registered model's own size); `example_inputs` (a tensor or
    a tuple of arguments, nested as the model takes them) with `example_kwargs`, exactly these;
    or `input_constructor(batch) -> (args, kwargs)`, e.g. for token ids.
    checkpoint: weights to load first (a file or a state_dict, see `archlab.load_checkpoint`); the
    report's notes say what was loaded.
    Other keyword options go to `archlab.profile.profile_module` (conventions, latency, memory,
    mode, ...).
    """
    given = example_inputs is not None or example_kwargs is not None or input_constructor is not None
    if isinstance(model_or_name, str):
        spec = get_spec(model_or_name)
        model, name, spec_dict = build(model_or_name), spec.name, spec.to_dict()
        if not given:
            input_size = tuple(input_size or spec.input_size)
    elif isinstance(model_or_name, nn.Module):
        if input_size is None and not given:
            raise UsageError("a plain nn.Module needs its inputs: input_size=(C, H, W), "
                             "example_inputs / example_kwargs, or input_constructor=fn(batch)")
        model, name, spec_dict = model_or_name, type(model_or_name).__name__, {}
    else:
        raise TypeError(f"profile() takes a model name or an nn.Module, not {type(model_or_name).__name__}")
    loaded = load_checkpoint(model, checkpoint) if checkpoint is not None else None
    report = profile_module(model, input_size, example_inputs=example_inputs,
                            example_kwargs=example_kwargs, input_constructor=input_constructor,
                            batch=batch, device=device, model_name=name, spec=spec_dict, **options)
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
