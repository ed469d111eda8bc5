"""archlab: what does each design choice of a vision backbone cost?

Builds HRNet, Lite-HRNet, Dite-HRNet, SKNet and their design-choice variants from one block library,
and measures parameters, MACs (under several counting conventions), latency and memory per module.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("archlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

# The subpackage `archlab.profile` must be imported before the function of the same name is bound
# below: importing a subpackage for the first time rebinds the parent's attribute to it.
from . import profile as _profile_package  # noqa: F401
from .api import profile
from .models import CheckpointError, build, get_spec, list_models, load_checkpoint
from .results import ProfileError, ProfileInterrupted, Report, load_report

__all__ = ["build", "get_spec", "list_models", "profile", "load_checkpoint", "CheckpointError",
           "load_report", "Report", "ProfileError", "ProfileInterrupted", "__version__"]
