"""The options of a run, as two frozen objects built once (from the command line or the API) and passed
down whole:

- `Measure`: everything that changes what is measured. The store key is derived from its fields
  (`Measure.key`), so an option added here is in the key by construction. Each field says its role:
  "key" fields must match exactly for a stored result to answer a request (device, threads, budget,
  the training step, ...); "holds" fields say what a result holds (conventions, latency, per-module
  times, runtimes), and a stored result that holds at least what is asked answers it too.
- `Policy`: how a run treats what exists (reuse or measure again, replace a folder, which store),
  which never changes a number.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from ..common import UsageError
from .run import log_line

DEFAULT_ROOT = Path("reports") / "store"  # the store of finished measurements


def _key(default, *, timing: bool = False):
    """A "key" field; `timing`: it changes how a model is timed, never what is counted, so a
    stored count answers a request that differs from it only in such fields (store.counted)."""
    return field(default=default, metadata={"role": "key", "timing": timing})


def _holds(default, covers):
    return field(default=default, metadata={"role": "holds", "covers": covers})


def _superset(stored, wanted) -> bool:
    return set(wanted or ()) <= set(stored or ())


def _implied(stored, wanted) -> bool:
    return bool(stored) or not wanted


@dataclass(frozen=True)
class Measure:
    """What a measurement is. None means "the command's default" until `resolve` fills it in."""

    conventions: tuple[str, ...] | None = _holds(None, _superset)
    latency: bool = _holds(True, _implied)
    per_module: bool | None = _holds(None, _implied)  # per-module operator times
    runtimes: tuple[str, ...] = _holds(("eager",), _superset)
    device: str = _key("cpu")
    threads: int | None = _key(None, timing=True)
    budget_s: float | None = _key(None, timing=True)  # seconds of timing per model, pair or runtime
    op_passes: int | None = _key(None, timing=True)  # operator-timed passes (the profiler's default)
    mode: str = _key("eval")
    sgd: bool = _key(False)
    cuda_graph: bool = _key(False, timing=True)
    checkpoint: str | None = _key(None)  # weights loaded first; keyed by the file as it is now

    def __post_init__(self):
        from ..profile.count.conventions import check_conventions
        from ..profile.deploy.runtimes import check_runtimes

        if self.mode not in ("eval", "train"):
            raise UsageError(f"--mode must be eval or train; got {self.mode!r}")
        if self.sgd and self.mode != "train":
            raise UsageError("--sgd adds an optimizer step to a training step: it needs --mode train")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise UsageError(f"--threads must be at least 1; got {self.threads}")
        if self.budget_s is not None and not self.budget_s > 0:
            raise UsageError(f"--budget must be a positive number of seconds; got {self.budget_s}")
        if self.op_passes is not None and (not isinstance(self.op_passes, int) or self.op_passes < 1):
            raise UsageError(f"op_passes must be at least 1; got {self.op_passes}")
        if self.cuda_graph and not str(self.device).startswith("cuda"):
            raise UsageError("--cuda-graph needs --device cuda")
        if self.cuda_graph and self.mode == "train":
            raise UsageError("--cuda-graph times inference only; not with --mode train")
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise UsageError(f"no checkpoint file {self.checkpoint}")
        if self.conventions is not None:
            object.__setattr__(self, "conventions", tuple(check_conventions(self.conventions)))
        runtimes = tuple(check_runtimes(self.runtimes or ("eager",)))
        object.__setattr__(self, "runtimes", runtimes)
        if len(runtimes) > 1 and not self.latency:
            raise UsageError("--runtime times the model: it cannot go with --no-latency")
        if len(runtimes) > 1 and self.mode == "train":
            raise UsageError("--runtime times inference: it cannot go with --mode train")

    def resolve(self, **defaults) -> "Measure":
        """The command's defaults for the fields left None; a training step's conventions are the
        profiler's rule for that mode (conventions.for_mode: those that can count a backward, and
        fvcore or thop asked for by name refused here, before anything is measured)."""
        from ..profile.count.conventions import for_mode

        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if self.mode == "train":
            filled["conventions"], _ = for_mode(self.conventions, "train")
        return dataclasses.replace(self, **filled)

    def check_here(self) -> None:
        """The device exists on this machine (a cluster's jobs check theirs)."""
        from ..profile.core.env import check_device

        check_device(self.device)

    # ------------------------------------------------------------ the key, derived
    def identity(self) -> dict:
        """The "key" fields: a stored result answers only a request equal in all of them."""
        import torch

        out = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["role"] == "key"}
        out["threads"] = self.threads or torch.get_num_threads()
        if self.checkpoint is not None:
            st = Path(self.checkpoint).stat()
            out["checkpoint"] = {"path": str(Path(self.checkpoint).resolve()),
                                 "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        return out

    @staticmethod
    def counted_identity(identity: dict) -> dict:
        """A stored identity less its timing-only fields: what a count depends on."""
        timing = {f.name for f in fields(Measure) if f.metadata.get("timing")}
        return {k: v for k, v in identity.items() if k not in timing}

    def holds(self) -> dict:
        """The "holds" fields: what a result measured under these options holds."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["role"] == "holds"}

    def key(self) -> dict:
        return {"measure": self.identity(), "holds": self.holds()}


    def profiler_args(self) -> dict:
        """These options as archlab.profile.profile_module's keywords (the one place they map)."""
        args = dict(conventions=self.conventions, latency=self.latency, device=self.device,
                    threads=self.threads, mode=self.mode, sgd=self.sgd, cuda_graph=self.cuda_graph)
        if self.per_module is not None:
            args["per_module"] = self.per_module
        if self.budget_s is not None:
            args["budget_s"] = self.budget_s
        if self.op_passes is not None:
            args["module_iters"] = self.op_passes
        return args

    @property
    def pairs_wanted(self) -> bool:
        """Models are paired with their base when they are timed for inference."""
        return self.latency and self.mode == "eval"


def covers(held: dict, wanted: dict) -> bool:
    """A result that holds `held` (a Measure's `holds()`, as stored) holds all `wanted` asks for."""
    return all(f.metadata["covers"](held.get(f.name), wanted.get(f.name))
               for f in fields(Measure) if f.metadata["role"] == "holds")


@dataclass(frozen=True)
class Policy:
    """How a run treats what exists; never part of a key."""

    fresh: bool = False  # measure again even when the store holds it
    keep_noisy: bool = False  # reuse a stored latency marked not reliable
    replace: bool = False  # replace what the output folder holds
    force: bool = False  # run even when the memory estimate says it will not fit
    store: str | Path = DEFAULT_ROOT
    progress: bool = True
    log: Callable[[str], None] = log_line
    # set when a run resumes an unfinished run of the same request in the same folder: what that run
    # saved since it started is its own finished work, reused even when its latency was flagged
    resume_since: float | None = None


def settle(call: str, measure: Measure | None, policy: Policy | None, options: dict,
           **defaults) -> tuple[Measure, Policy]:
    """The Measure and Policy of an API call: given whole, or built from the call's keyword options
    (each a field of one of them; anything else is a TypeError, as for any function); then the
    command's `defaults` fill what is left None."""
    names = {cls: {f.name for f in fields(cls)} for cls in (Measure, Policy)}
    unknown = set(options) - names[Measure] - names[Policy]
    if unknown:
        raise TypeError(f"{call}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    given = {cls: {k: v for k, v in options.items() if k in names[cls]} for cls in names}
    if measure is not None and given[Measure]:
        raise TypeError(f"{call}(): pass measure=Measure(...) or its fields, not both")
    if policy is not None and given[Policy]:
        raise TypeError(f"{call}(): pass policy=Policy(...) or its fields, not both")
    measure = measure or Measure(**given[Measure])
    policy = policy or Policy(**{k: v for k, v in given[Policy].items() if v is not None})
    return measure.resolve(**defaults), policy
