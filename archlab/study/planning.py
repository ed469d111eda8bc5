"""Everything checked before anything is measured: names, settings, input sizes, the memory a profile
will need, and the output folder it will write.

A Job is one model to profile, resolved and built: a wrong name, a setting a block has no choice
for, an input the model cannot take (wrong channel count, a size its lowest branch cannot divide)
each fail here with one line, before any forward pass, any progress bar or any file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..common import UsageError
from .options import Measure
from .store import request_key

# a request this many times the model's default input (pixels x batch) gets its memory estimated
LARGE = 16


class WontFit(UsageError, MemoryError):
    """A request whose estimated memory exceeds what the device has left (--force tries anyway)."""


@dataclass
class Job:
    name: str  # the registered (canonical) name, or NAME@field=value
    spec: object
    shape: tuple[int, ...]
    batch: int
    key: dict
    model: nn.Module | None = field(default=None, repr=False)  # built while checking; may be let go
    checkpoint: str | None = None

    def built(self) -> nn.Module:
        """The model, built again (weights loaded) when planning let it go: a sweep of hundreds of
        points holds only the models it is measuring."""
        if self.model is None:
            from ..models import load_checkpoint

            self.model = self.spec.build().eval()
            if self.checkpoint is not None:
                self.model.loaded_checkpoint = load_checkpoint(self.model, self.checkpoint)
        return self.model


def parse_input(text: str | None, default) -> tuple[int, ...]:
    """'HxW' or 'CxHxW' (x, × or comma) -> (C, H, W), the default's channels when not given."""
    if not text:
        return tuple(default)
    nums = []
    try:
        nums = [int(p) for p in re.split(r"[x×,]", text.strip().lower())]
    except ValueError:
        pass
    if len(nums) not in (2, 3) or any(n <= 0 for n in nums):
        raise UsageError(f"--input must be HxW or CxHxW with positive integers, e.g. 256x192; "
                         f"got {text!r}")
    return tuple(nums) if len(nums) == 3 else (default[0], *nums)


def plan(names, measure: Measure, *, input_size=None, batch: int = 1, force: bool = False,
         keep_models: bool = True, say=lambda msg: None) -> list[Job]:
    """Resolve, build and check every model; the jobs in order (a name given twice runs once).
    `input_size`: a (C, H, W) tuple, 'HxW' text, or None for each model's own. The measure's
    checkpoint is loaded into each model now (a file that does not fit fails here).
    `keep_models=False` lets each model go once checked (Job.built makes it again)."""
    from ..models import get_spec, load_checkpoint

    if not isinstance(batch, int) or batch < 1:
        raise UsageError(f"--batch must be at least 1; got {batch}")
    jobs: dict[str, Job] = {}
    for name in names:
        spec = get_spec(name)
        if spec.name in jobs:
            continue
        shape = (parse_input(input_size, spec.input_size) if not isinstance(input_size, tuple)
                 else tuple(input_size))
        model = spec.build().eval()  # a setting no block can take fails here; profiled in eval
        check = getattr(model, "check_input", None)
        if check is not None:
            check(torch.empty(batch, *shape, device="meta"))
        if measure.checkpoint is not None:  # measured with these weights: part of the key
            model.loaded_checkpoint = load_checkpoint(model, measure.checkpoint)
        key = request_key(spec.to_dict(), shape, batch, measure)
        jobs[spec.name] = Job(spec.name, spec, shape, batch, key, model, measure.checkpoint)
        default = spec.input_size
        if not force and batch * _pixels(shape) > LARGE * _pixels(default):
            say(f"{spec.name}: estimating the memory of {'x'.join(map(str, shape))} at batch "
                f"{batch} (a pass on the meta device)")
            check_memory(model, shape, batch, measure.device, spec.name)
        if not keep_models:
            jobs[spec.name].model = None
    return list(jobs.values())


def _pixels(shape) -> int:
    n = 1
    for v in shape[1:]:
        n *= int(v)
    return n


def available_bytes(device: str) -> int | None:
    """Memory this process can still take: the GPU's free memory, or on the CPU the smaller of
    MemAvailable and what the cgroup limit leaves."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.mem_get_info(dev)[0]
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            free = min(free or 2 ** 62, int(limit) - used)
    except (OSError, ValueError):
        pass
    return free


def estimate_bytes(model: nn.Module, shape, batch: int) -> int:
    """Weights, input and the peak of live activations of one forward pass, from a counting pass on
    the meta device (shapes without data: no memory, no arithmetic)."""
    import copy

    from ..profile.count.counter import Recorder
    from ..profile.core.hooks import ModuleTable
    from ..profile.core.memory import LiveBytes
    from ..profile.core.recorder import recording

    meta = copy.deepcopy(model).to("meta").eval()
    weights = sum(t.nbytes for t in model.state_dict().values())
    tracker = LiveBytes()
    x = torch.empty(batch, *shape, device="meta")
    with torch.inference_mode(), recording(Recorder(ModuleTable(meta), tracker)):
        meta(x)
    return weights + x.nbytes + tracker.peak


def check_memory(model, shape, batch, device, name) -> None:
    need, free = estimate_bytes(model, shape, batch), available_bytes(device)
    if free is not None and need > free:
        gib = 2 ** 30
        raise WontFit(f"{name} at {'x'.join(map(str, shape))}, batch {batch} needs about "
                          f"{need / gib:.1f} GiB (weights, input and peak activations, estimated "
                          f"on the meta device) but {free / gib:.1f} GiB is available on {device}; "
                          "use a smaller --input or --batch, or --force to try anyway")
