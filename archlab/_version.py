"""archlab's version, from the installed package's metadata: the one source every report cites."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("archlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"
