"""The environment a measurement was taken in, the device check made before anything runs, and
what is set for a run and restored after: thread count, the model's device and memory format."""
from __future__ import annotations

import datetime
import gc
import platform
from contextlib import contextmanager
from importlib import metadata

import torch
from torch import nn

from ...common import UsageError


def check_device(device) -> torch.device:
    """A usable torch.device, or one clear line: ValueError for a bad name, RuntimeError for a
    CUDA device this machine does not have."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}; use 'cpu' or 'cuda[:N]'") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"device {device!r} is not supported; use 'cpu' or 'cuda[:N]'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} requested but no CUDA GPU is available here "
                               "(torch.cuda.is_available() is False); use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} requested but only "
                               f"{torch.cuda.device_count()} CUDA device(s) exist")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


@contextmanager
def threads(n: int | None):
    """torch's intra-op thread count set to n (None keeps it) and restored afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        if not isinstance(n, int) or n < 1:
            raise UsageError(f"threads must be a positive int, got {n!r}")
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@contextmanager
def placed(module: nn.Module, device: torch.device, memory_format: str):
    """The model on `device` (and in channels_last) for the run, then put back where it was."""
    first = next(iter(module.parameters()), None)
    if first is None:
        first = next(iter(module.buffers()), None)
    home = first.device if first is not None else device
    moved = home != device
    cl = memory_format == "channels_last"
    try:
        if moved:
            module.to(device)
        if cl:
            to_memory_format(module, torch.channels_last)
        yield
    finally:
        if cl:
            to_memory_format(module, torch.contiguous_format)
        if moved:
            module.to(home)


def to_memory_format(module: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    """Every 4-D parameter and buffer of `module` in `memory_format`, in place. Module.to() refuses
    a model holding a 5-D tensor (Dite-HRNet's banks of kernels), so tensors go one by one."""
    with torch.no_grad():
        for m in module.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is not None and t.dim() == 4:
                        t.data = t.data.contiguous(memory_format=memory_format)
    return module


def model_dtype(module: nn.Module) -> torch.dtype:
    """The floating dtype of the model's weights (torch's default when it has none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()),
                torch.get_default_dtype())


def random_input(module: nn.Module, input_size, *, batch: int, device: torch.device, seed: int,
                 memory_format: str = "contiguous") -> torch.Tensor:
    """(batch, *input_size) of the model's dtype on `device`, the same for a given seed."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *input_size, generator=gen, dtype=model_dtype(module)).to(device)
    return x.contiguous(memory_format=torch.channels_last) if memory_format == "channels_last" else x


@contextmanager
def gc_paused():
    """Python's cyclic GC off for a measured pass, as timeit does: a full collection over a large
    model's objects costs tens of milliseconds and would land on whichever op triggered it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device, *, threads: int, dtype: torch.dtype, memory_format: str,
                conventions) -> dict:
    cuda = device.type == "cuda"
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
        "threads": threads,
        "dtype": str(dtype).replace("torch.", ""),
        "memory_format": memory_format,
        "torch": torch.__version__,
        "archlab": _version("archlab") or "0.1.0+local",
        "fvcore": _version("fvcore"),
        "thop": _version("thop"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "tf32": ({"matmul": bool(torch.backends.cuda.matmul.allow_tf32),
                  "cudnn": bool(torch.backends.cudnn.allow_tf32)} if cuda else None),
        "cuda": torch.version.cuda if cuda else None,
        "conventions": list(conventions),
    }
