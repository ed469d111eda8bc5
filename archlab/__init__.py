"""archlab: what does each design choice of a vision backbone cost?

Builds HRNet, Lite-HRNet, Dite-HRNet, SKNet and their design-choice variants from one block library,
and measures parameters, MACs (under several counting conventions), latency and memory per module.
"""
import types as _types

from ._version import __version__

from . import api as _api
from . import profile
from .models import CheckpointError, build, get_spec, list_models, load_checkpoint
from .results import ProfileError, ProfileInterrupted, Report, load_report


class _CallablePackage(_types.ModuleType):
    """`archlab.profile` is the measuring package (`import archlab.profile.deploy.runtimes`) and,
    called, the public entry point `archlab.api.profile`: one name, no attribute that rebinds."""

    def __call__(self, *args, **kwargs) -> Report:
        return _api.profile(*args, **kwargs)


profile.__class__ = _CallablePackage
__all__ = ["build", "get_spec", "list_models", "profile", "load_checkpoint", "CheckpointError",
           "load_report", "Report", "ProfileError", "ProfileInterrupted", "__version__"]
