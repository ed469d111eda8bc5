"""archlab's models: every named model is a frozen spec in one registry (see archlab.models.zoo for
the names and the "base@field=value" grammar); `build` turns a name into an nn.Module;
`load_checkpoint` loads the authors' released weights (archlab.models.loading)."""
from .loading import CheckpointError, load_checkpoint
from .hrnet import HRNet, HRSpec
from .sizes import spec_params
from .spec import ModelSpec
from . import zoo  # noqa: F401  (registers every named model)
from .builder import build
from .registry import get_spec, list_models, list_variants, register

__all__ = ["ModelSpec", "HRSpec", "HRNet", "build", "get_spec", "list_models", "list_variants", "register",
           "spec_params", "load_checkpoint", "CheckpointError"]
