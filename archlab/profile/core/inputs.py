"""What a model is called with: any positional and keyword arguments, made once per profile and used
by every measurement of it (counting, memory, timing, training).

Three ways to say it:
- `input_size=(C, H, W)`: one random float tensor of shape (batch, C, H, W), the same for a seed;
- `example_inputs=...` (a tensor, or a tuple of arguments: tensors, tuples, lists, dicts, nested)
  and/or `example_kwargs={...}`: exactly these arguments, moved to the device;
- `input_constructor=fn`: `fn(batch)` returns `(args, kwargs)` (or just the args), so batch sweeps
  and integer inputs (token ids) work too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_flatten_with_path, tree_map, keystr

from ...common import UsageError


@dataclass
class Inputs:
    """The arguments of one call of the model."""

    args: tuple
    kwargs: dict

    def call(self, module: nn.Module):
        return module(*self.args, **self.kwargs)

    def describe(self) -> list[dict]:
        """Every tensor argument: where it is ("args[0]", "kwargs['mask']"), shape and dtype."""
        leaves, _ = tree_flatten_with_path((self.args, self.kwargs))
        out = []
        for path, leaf in leaves:
            if isinstance(leaf, Tensor):
                where = keystr(path)
                where = ("args" + where[3:]) if where.startswith("[0]") else ("kwargs" + where[3:])
                out.append({"path": where, "shape": list(leaf.shape),
                            "dtype": str(leaf.dtype).replace("torch.", "")})
        return out

    def batch(self) -> int:
        """The leading size of the first tensor argument (1 when there is none)."""
        first = next((a["shape"] for a in self.describe() if a["shape"]), None)
        return int(first[0]) if first else 1


@dataclass
class InputRecipe:
    """How a profile makes its Inputs: from a size, from examples, or from a constructor."""

    size: tuple | None = None
    example_args: tuple | None = None
    example_kwargs: dict | None = None
    constructor: Callable | None = None

    def __post_init__(self):
        given = [self.size is not None, self.example_args is not None or self.example_kwargs
                 is not None, self.constructor is not None]
        if sum(given) != 1:
            raise UsageError("give the model's inputs one way: input_size=(C, H, W), "
                             "example_inputs / example_kwargs, or input_constructor=fn(batch)")
        if self.size is not None and (
                not isinstance(self.size, (tuple, list)) or not self.size
                or not all(isinstance(s, int) and s > 0 for s in self.size)):
            raise UsageError(f"input_size must be a tuple of positive ints like (3, 256, 192), "
                             f"got {self.size!r}")
        if self.constructor is not None and not callable(self.constructor):
            raise UsageError("input_constructor must be a callable: fn(batch) -> (args, kwargs)")

    def make(self, module: nn.Module, *, batch: int, device: torch.device, seed: int,
             memory_format: str = "contiguous") -> Inputs:
        if self.size is not None:
            from .env import random_input

            x = random_input(module, self.size, batch=batch, device=device, seed=seed,
                             memory_format=memory_format)
            return Inputs((x,), {})
        if self.constructor is not None:
            made = self.constructor(batch)
            args, kwargs = made if _is_pair(made) else (made, {})
        else:
            args, kwargs = self.example_args, self.example_kwargs
        args = args if isinstance(args, tuple) else () if args is None else (args,)
        inputs = Inputs(tree_map(_to(device, memory_format), args),
                        tree_map(_to(device, memory_format), dict(kwargs or {})))
        if not inputs.describe():
            raise UsageError("the model's inputs hold no tensor")
        return inputs

    def is_example(self) -> bool:
        return self.example_args is not None or self.example_kwargs is not None

    def label(self) -> list[int] | None:
        """The (C, H, W) shorthand when the inputs were given that way (None otherwise)."""
        return list(self.size) if self.size is not None else None


def _is_pair(made) -> bool:
    return isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], dict)


def _to(device: torch.device, memory_format: str):
    def move(v):
        if not isinstance(v, Tensor):
            return v
        v = v.to(device)
        if memory_format == "channels_last" and v.dim() == 4 and v.is_floating_point():
            v = v.contiguous(memory_format=torch.channels_last)
        return v
    return move


def shapes(obj):
    """A JSON-able picture of what a module received or returned: a tensor as its shape, lists,
    tuples and dicts as such, anything else as its type name (None as None)."""
    if isinstance(obj, Tensor):
        return list(obj.shape)
    if isinstance(obj, (list, tuple)):
        return [shapes(o) for o in obj]
    if isinstance(obj, dict):
        return {str(k): shapes(v) for k, v in obj.items()}
    return None if obj is None else type(obj).__name__
