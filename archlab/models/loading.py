"""Loading weights into archlab's models: the authors' released checkpoints (their layouts are in
archlab.models.checkpoints) and archlab's own state_dicts.

Files are read with torch.load(..., weights_only=True): no code in a file is run. Every tensor is
placed by name; anything missing, unexpected or of the wrong shape (beyond the tensors a released
layout declares unused) is a CheckpointError, one line that names the keys and the model the file
seems to be for.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..common import UsageError, first_line
from .checkpoints import ARCHLAB, LAYOUTS, Layout
from .registry import get_spec, list_models


class CheckpointError(UsageError):
    """A file that is no checkpoint, or a checkpoint that does not fit the model; one line."""


_FORMATS = {"mmpose": "mmpose (Lite-HRNet / Dite-HRNet) checkpoint",
            "hrnet": "HRNet-repository checkpoint", "archlab": "archlab state_dict"}


@dataclass(frozen=True)
class CheckpointInfo:
    """What `load_checkpoint` did: from where, which layout, how many tensors, what it left out."""
    source: str
    layout: str
    loaded: int
    ignored: tuple[str, ...]
    note: str  # one line, e.g. for a report's notes


def read_checkpoint(source: str | PathLike | Mapping) -> tuple[dict, str]:
    """(state_dict, label) of a file or of a mapping given as it is; a file that torch.load cannot
    read with weights_only=True, or that holds no dict of tensors, is a CheckpointError."""
    if isinstance(source, Mapping):
        obj, label = source, "the given state_dict"
    else:
        label = str(source)
        try:
            _check_looks_saved(source, label)
            obj = torch.load(source, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"no checkpoint file {label}") from None
        except CheckpointError:
            raise
        except Exception as exc:  # pickle, zip and EOF errors of a corrupt or foreign file
            reason = first_line(exc, limit=160)
            raise CheckpointError(f"{label} is not a checkpoint torch.load can read with "
                                  f"weights_only=True: {reason}") from None
    inner = obj.get("state_dict") if isinstance(obj, Mapping) else None
    sd = inner if isinstance(inner, Mapping) else obj
    if not (isinstance(sd, Mapping) and sd and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in sd.items())):
        raise CheckpointError(f"{label} holds no state_dict (tensor names -> tensors, plain or under "
                              f"'state_dict'); it holds a {type(obj).__name__}")
    return dict(sd), label


# torch.save writes a zip archive; its legacy format (and plain pickles) starts with the pickle
# protocol opcode. Anything else makes torch.load fail with a bare pickle error ("...: 101").
_SAVED_MAGIC = (b"PK\x03\x04", b"\x80")


def _check_looks_saved(source, label: str) -> None:
    """A CheckpointError that says what the file is not and what to give instead, for a path whose
    first bytes are neither a zip nor a pickle (a text file, an image, a folder)."""
    if not isinstance(source, (str, PathLike)):
        return  # a file object: torch.load reads it as it is
    if Path(source).is_dir():
        raise CheckpointError(f"{label} is a folder, not a checkpoint file: give the .pth file")
    with open(source, "rb") as f:  # FileNotFoundError: the caller's "no checkpoint file"
        head = f.read(4)
    if not head.startswith(_SAVED_MAGIC):
        raise CheckpointError(
            f"{label} is not a PyTorch checkpoint (not a zip or pickle file torch.load can read): "
            "give the .pth file of the authors' released model, or one written by "
            "torch.save(model.state_dict(), PATH)")


def detect_format(state_dict: Mapping) -> str:
    if any(k.startswith("backbone.") for k in state_dict):
        return "mmpose"
    return "hrnet" if "final_layer.weight" in state_dict else "archlab"


def _rename(state_dict: Mapping, layout: Layout):
    """{archlab name: (file name, tensor)}, the dead keys left out, and names two keys map onto."""
    mapped, ignored, clashes = {}, [], []
    for src, tensor in state_dict.items():
        if layout.dead and layout.dead(src):
            ignored.append(src)
            continue
        dst = layout.rename(src)
        if dst in mapped:
            clashes.append(f"{mapped[dst][0]} and {src} -> {dst}")
        mapped[dst] = (src, tensor)
    return mapped, ignored, clashes


def _a(what: str) -> str:
    return ("an " if what.startswith(("archlab", "mmpose", "HRNet")) else "a ") + what


def _few(items, n: int = 3) -> str:
    items = list(items)
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def load_checkpoint(model: nn.Module, checkpoint: str | PathLike | Mapping) -> CheckpointInfo:
    """Load a checkpoint file (or a state_dict) into an archlab model, every tensor by name.

    Reads the authors' released files of the model's family and archlab's own state_dicts. Raises
    CheckpointError (a ValueError, one line) for an unreadable file or one that does not fit: the
    keys missing, unexpected or of the wrong shape (the first few), and the model it seems to be for.
    """
    state_dict, label = read_checkpoint(checkpoint)
    fmt = detect_format(state_dict)
    spec = getattr(model, "spec", None)
    name = getattr(spec, "name", None) or getattr(model, "name", None) or type(model).__name__
    own = LAYOUTS.get(getattr(spec, "family", None))
    layout = ARCHLAB if fmt == "archlab" else own
    if layout is None or layout.format != fmt:
        reads = f"{own.what}s and archlab state_dicts" if own else "archlab state_dicts only"
        raise CheckpointError(f"{label} is {_a(_FORMATS[fmt])}; {name} reads {reads}"
                              f"{_seems(state_dict, fmt)}")
    mapped, ignored, clashes = _rename(state_dict, layout)
    target = model.state_dict()
    missing = [k for k in target if k not in mapped]
    unexpected = [src for k, (src, _) in mapped.items() if k not in target]
    wrong = [f"{src} {list(t.shape)} (model {list(target[k].shape)})"
             for k, (src, t) in mapped.items() if k in target and t.shape != target[k].shape]
    problems = [f"{len(v)} {what}: {_few(v)}" for what, v in
                (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", wrong),
                 ("mapped twice", clashes)) if v]
    if problems:
        raise CheckpointError(f"{label} (read as {_a(layout.what)}) does not fit {name}: "
                              f"{'; '.join(problems)}{_seems(state_dict, fmt)}")
    model.load_state_dict({k: t for k, (_, t) in mapped.items()}, strict=True)
    note = f"weights: {len(mapped)} tensors from {label} ({layout.what})"
    if ignored:
        note += f"; ignored {len(ignored)} unused tensors ({layout.dead_why}: {_few(ignored, 2)})"
    return CheckpointInfo(label, layout.what, len(mapped), tuple(ignored), note)


@lru_cache(maxsize=None)
def _shapes(name: str) -> dict:
    with torch.device("meta"):  # shapes only: nothing allocated, nothing initialised for real
        return {k: tuple(v.shape) for k, v in get_spec(name).build().state_dict().items()}


def _seems(state_dict: Mapping, fmt: str) -> str:
    """'; the file seems to be for NAME' (or the closest registered reference model), for errors."""
    best = (0.0, "", 0, 0)
    for name in list_models():
        spec = get_spec(name)
        layout = ARCHLAB if fmt == "archlab" else LAYOUTS.get(spec.family)
        if spec.base is not None or layout is None or layout.format != fmt:
            continue
        mapped, _, _ = _rename(state_dict, layout)
        shapes = _shapes(name)
        fit = sum(shapes.get(k) == tuple(t.shape) for k, (_, t) in mapped.items())
        score = fit / (len(mapped) + len(shapes) - fit)
        if score > best[0]:
            best = (score, name, fit, len(mapped))
    score, name, fit, n = best
    if not name:
        return "; it fits no registered model"
    if score == 1.0:
        return f"; the file seems to be for {name}"
    return f"; the closest registered model is {name} ({fit} of its {n} tensors fit)"
