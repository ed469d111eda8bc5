"""Samples of the harness turned into figures with their verdict: one contender's median and spread,
or two contenders' per-round ratio. Every timing of archlab is summarised here, so a latency and a
ratio are judged by the same rules (reliability.assess)."""
from __future__ import annotations

import numpy as np

from . import reliability


def describe(samples_ms: list[float]) -> dict:
    """median_ms, iqr_ms, p10_ms, p90_ms and n of one contender's samples."""
    if not len(samples_ms):
        raise ValueError("no samples to describe")
    p10, p25, p50, p75, p90 = np.percentile(samples_ms, [10, 25, 50, 75, 90])
    return {"median_ms": float(p50), "iqr_ms": float(p75 - p25), "p10_ms": float(p10),
            "p90_ms": float(p90), "n": len(samples_ms)}


def spread(samples_ms: list[float]) -> float | None:
    """IQR / median, the spread every verdict reads; None for no samples or a zero median."""
    if not len(samples_ms):
        return None
    d = describe(samples_ms)
    return d["iqr_ms"] / d["median_ms"] if d["median_ms"] else None


def judged(samples_ms: list[float], watch: dict) -> dict:
    """describe() of one contender's samples, with the verdict on them (reliability.assess on
    their spread and what the watcher saw)."""
    d = describe(samples_ms)
    return {**d, **reliability.assess(watch, spread(samples_ms), d["n"])}


def paired_ratio(model_ms: list[float], base_ms: list[float]) -> dict:
    """Per-round ratios model/base of two side-by-side sample lists, summarised: median ('ratio'),
    p10, p90, IQR and n, plus each contender's median over the same rounds."""
    if len(model_ms) != len(base_ms):
        raise ValueError(f"paired samples must come from the same rounds; got {len(model_ms)} "
                         f"and {len(base_ms)} samples")
    ratios = np.array([m / b for m, b in zip(model_ms, base_ms) if b > 0])
    if not len(ratios):
        raise ValueError("no paired rounds with a positive base time")
    p10, p25, p50, p75, p90 = np.percentile(ratios, [10, 25, 50, 75, 90])
    return {"ratio": float(p50), "ratio_p10": float(p10), "ratio_p90": float(p90),
            "ratio_iqr": float(p75 - p25), "n": len(ratios),
            "model_ms": float(np.median(model_ms)), "base_ms": float(np.median(base_ms))}


def judged_ratio(model_ms: list[float], base_ms: list[float], watch: dict) -> dict:
    """paired_ratio with its verdict: reliability.assess on the spread of the ratios (IQR / median)
    and what the watcher saw while the rounds ran."""
    out = paired_ratio(model_ms, base_ms)
    out.update(reliability.assess(watch, out["ratio_iqr"] / out["ratio"] if out["ratio"] else None,
                                  out["n"]))
    return out
