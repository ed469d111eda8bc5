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

    def built(self, builds: "Builds | None" = None) -> nn.Module:
        """The model, built again (weights loaded) when planning let it go: a sweep of hundreds of
        points holds only the models it is measuring. With `builds`, the build of every job of the
        same spec and weights is shared (a sweep's point at several inputs, its base in every pair)."""
        if self.model is None:
            self.model = builds.get(self) if builds is not None else self.build()
        return self.model

    def build(self) -> nn.Module:
        from ..models import load_checkpoint

        model = self.spec.build().eval()
        if self.checkpoint is not None:
            model.loaded_checkpoint = load_checkpoint(model, self.checkpoint)
        return model


class Builds:
    """The models of one run, built once per (spec, weights) and kept while a job still needs them:
    `need(job)` counts a use to come, `done(job)` one finished (or answered by the store); the
    model goes when none is left. Planning may `keep` the models it built to check them, up to
    `keep_bytes` of weights (a sweep of hundreds of large models lets them go and builds again)."""

    def __init__(self, keep_bytes: int = 2 ** 30):
        self.models: dict = {}
        self.uses: dict = {}
        self.kept: dict = {}  # key -> weight bytes of the models planning kept
        self.keep_bytes = keep_bytes

    def keep(self, job: Job, model: nn.Module) -> None:
        k, size = self.key(job), _weight_bytes(model)
        if k not in self.models and sum(self.kept.values()) + size <= self.keep_bytes:
            self.models[k], self.kept[k] = model, size

    @staticmethod
    def key(job: Job):
        return job.spec, job.checkpoint

    def need(self, job: Job) -> None:
        k = self.key(job)
        self.uses[k] = self.uses.get(k, 0) + 1

    def get(self, job: Job) -> nn.Module:
        """The model of the job's spec and weights: the one built before, or a new one (held while
        uses are counted for it)."""
        k = self.key(job)
        model = self.models.get(k)
        if model is None:
            model = job.build()
            if self.uses.get(k, 0) > 0:
                self.models[k] = model
        return model

    def done(self, job: Job) -> None:
        k = self.key(job)
        self.uses[k] = self.uses.get(k, 1) - 1
        job.model = None
        if self.uses[k] <= 0:
            self.models.pop(k, None)
            self.kept.pop(k, None)


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
         keep_models: bool = True, builds: Builds | None = None,
         say=lambda msg: None) -> list[Job]:
    """Resolve, build and check every model; the jobs in order (a name given twice runs once).
    `input_size`: a (C, H, W) tuple, 'HxW' text, or None for each model's own. The measure's
    checkpoint is loaded into each model now (a file that does not fit fails here).
    `keep_models=False` lets each model go once checked (Job.built makes it again, or `builds`,
    which keeps what it can and gives a model already built for the same spec)."""
    from ..models import get_spec

    if not isinstance(batch, int) or batch < 1:
        raise UsageError(f"--batch must be at least 1; got {batch}")
    jobs: dict[str, Job] = {}
    for name in names:
        spec = get_spec(name)
        if spec.name in jobs:
            continue
        shape = (parse_input(input_size, spec.input_size) if not isinstance(input_size, tuple)
                 else tuple(input_size))
        key = request_key(spec.to_dict(), shape, batch, measure)
        job = jobs[spec.name] = Job(spec.name, spec, shape, batch, key, None, measure.checkpoint)
        # a setting no block can take fails in the build, a checkpoint that does not fit in its
        # loading; profiled in eval
        model = job.model = builds.get(job) if builds is not None else job.build()
        check = getattr(model, "check_input", None)
        if check is not None:
            check(torch.empty(batch, *shape, device="meta"))
        default = spec.input_size
        if not force and batch * _pixels(shape) > LARGE * _pixels(default):
            say(f"{spec.name}: estimating the memory of {'x'.join(map(str, shape))} at batch "
                f"{batch} (a pass on the meta device)")
            check_memory(model, shape, batch, measure.device, spec.name)
        if not keep_models:
            job.model = None
            if builds is not None:
                builds.keep(job, model)
    return list(jobs.values())


def _weight_bytes(model: nn.Module) -> int:
    return sum(t.nbytes for t in (*model.parameters(), *model.buffers()))


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
