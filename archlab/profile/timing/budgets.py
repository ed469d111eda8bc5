"""How long each kind of side-by-side timing runs: one Budget per use of the harness, all here, so
that what a measurement costs in time is read in one place (harness.side_by_side's keywords)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .harness import MIN_ROUNDS

# calls shorter than this are timed in blocks (see harness.py); 1 ms keeps perf_counter's cost
# (tens of ns) and a CUDA event pair's resolution (about 0.5 us) well under 1% of a sample
BLOCK_S = 1e-3


@dataclass(frozen=True)
class Budget:
    """side_by_side's keywords: `warmup` rounds (and at least `warmup_s` seconds) of warm-up, then
    at least `min_rounds` and at most `max_rounds` rounds, stopping once `budget_s` has passed (or
    later, up to `max_s`, while the samples have not settled)."""
    warmup: int
    max_rounds: int
    budget_s: float
    min_rounds: int = MIN_ROUNDS
    warmup_s: float = 0.0
    max_s: float | None = None
    min_sample_s: float = BLOCK_S

    def but(self, **changes) -> "Budget":
        """This budget with some fields changed; None leaves a field as it is. A new budget_s
        without a new max_s keeps max_s in the same proportion to it."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "budget_s" in changes and "max_s" not in changes and self.max_s is not None:
            changes["max_s"] = self.max_s * changes["budget_s"] / self.budget_s
        return replace(self, **changes)

    def kwargs(self) -> dict:
        return asdict(self)


# model vs base (timing/paired.py, deploy/pairs.py): a comparison of 15 variants at 256x192 on 2
# CPU cores takes about 5 s per pair
PAIR = Budget(warmup=2, max_rounds=15, budget_s=4.0)
# every deploy runtime beside eager in one run (deploy/runtimes.py): compiled runtimes need a few
# more warm-up calls, and a run of four contenders more rounds
RUNTIMES = Budget(warmup=3, max_rounds=30, budget_s=10.0)
# contiguous vs channels_last while a runtime is prepared (deploy/layouts.py): a quick choice
LAYOUT = Budget(warmup=2, max_rounds=12, budget_s=3.0)
# a profile: plain calls beside operator-timed passes (or training steps), at least WARMUP_S of
# warm-up (a GPU needs time to reach its clocks), budget_s seconds, longer (up to max_s) while
# the plain calls' spread exceeds 10%; per_pass keeps every module's time per round, so rounds
# are capped: dite18 on 2 CPU cores stays well under 60 s
PROFILE = Budget(warmup=3, max_rounds=200, budget_s=3.0, warmup_s=0.5, max_s=9.0)
