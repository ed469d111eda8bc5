"""build: a registered name (or spec) made into a model, settings overridden, weights loaded."""
from __future__ import annotations

from torch import nn

from .loading import load_checkpoint
from .registry import get_spec
from .spec import ModelSpec, _show, check_settings


def build(name: str | ModelSpec, *, checkpoint=None, **overrides) -> nn.Module:
    """Build a model by name (or spec), with settings overridden, e.g. build("lite18", num_keypoints=16).

    checkpoint: a file (the authors' released checkpoint or an archlab state_dict) or a state_dict
    to load, see `archlab.models.loading.load_checkpoint`; what it did is kept on the model as
    `model.loaded_checkpoint` (a CheckpointInfo, whose `note` names any tensor left out).
    """
    spec = get_spec(name)
    if overrides:
        check_settings(spec, overrides)
        text = ",".join(f"{k}={_show(v)}" for k, v in overrides.items())
        change = "; ".join(f"{k}: {_show(getattr(spec, k, None))} -> {_show(v)}" for k, v in overrides.items())
        spec = spec.derive(f"{spec.name}@{text}", change, **overrides)
    model = spec.build()
    if checkpoint is not None:
        model.loaded_checkpoint = load_checkpoint(model, checkpoint)
    return model
