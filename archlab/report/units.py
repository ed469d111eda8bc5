"""Units and number formatting.

One model has several "FLOPs": the HRNet README counts conv and linear multiply-adds in units of
2^30, the Lite-/Dite-HRNet READMEs in units of 2^20, torchvision in 1e9. Every count archlab prints
says which convention it is under; a convention's published unit comes from its entry in the
convention table, which every report carries (`report.conventions`).
"""
from __future__ import annotations

import math

import numpy as np

def is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def published(entry: dict, raw) -> str:
    """A raw count in its convention's published unit (`entry`: the convention's table entry), one
    digit beyond what the papers print (they print 205.2 M and 7.1 G; here 205.23 M and 7.08 G, so
    truncation and rounding both show)."""
    if is_missing(raw):
        return "n/a"
    div, label = entry.get("divisor", 1), entry.get("published", "")
    if div == 1 or not label:
        return si(raw)
    v = raw / div
    return f"{v:.2f} {label}" if abs(v) >= 1 else f"{_sig(v, 3)} {label}"


def si(x, digits: int = 3) -> str:
    """Decimal SI (k = 1e3, M = 1e6, G = 1e9): 1130769 -> '1.13 M'. The 2^20 / 2^30 units of the
    papers are never written this way (see `published`)."""
    if is_missing(x):
        return "n/a"
    x = float(x)
    ax = abs(x)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if ax >= div:
            return f"{_sig(x / div, digits)} {suffix}"
    return f"{_sig(x, digits)}" if x != int(x) else f"{int(x)}"


def fixed(x, digits: int = 3) -> str:
    """`digits` significant digits in positional notation, never scientific: a count in a
    published unit of 2^20 at batch 32 is '7340', not '7.34e+03'."""
    return "n/a" if is_missing(x) else _sig(float(x), digits)


def ppm(x) -> str:
    """A relative difference in parts per million (4.9e-07 -> '0.49 ppm'): how far a deploy
    runtime's outputs are from eager's, against a limit of 100 ppm (1e-4)."""
    if is_missing(x):
        return "n/a"
    return "0" if x == 0 else f"{_sig(1e6 * float(x), 2)} ppm"


def _sig(v: float, digits: int) -> str:
    if v == 0:
        return "0"
    v = float(f"{v:.{digits}g}")  # rounded first, so 99.96 at 3 digits is '100', not '100.0'
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(v)))))
    return f"{v:.{decimals}f}"


def mib(nbytes) -> str:
    if is_missing(nbytes):
        return "n/a"
    return f"{nbytes / 2 ** 20:.2f}"


def ms(x) -> str:
    if is_missing(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def ratio(x, times: bool = True) -> str:
    """A latency ratio: 1.1234 -> '1.12×' ('1.12' with times=False, for a p10–p90 range)."""
    if is_missing(x):
        return "n/a"
    return f"{x:.2f}" + ("×" if times else "")


def pct(x, signed: bool = False) -> str:
    if is_missing(x) or (isinstance(x, float) and math.isinf(x)):
        return "n/a"
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def signed(text: str, value) -> str:
    """Prefix a formatted delta with its sign ('+' is not printed by si())."""
    if is_missing(value):
        return "n/a"
    return text if text.startswith("-") else "+" + text


def unreliable(flag) -> bool:
    """True for a `reliable` flag that is False (a frame cell may hold numpy's bool or None/NaN)."""
    return isinstance(flag, (bool, np.bool_)) and not flag


MAX_ROW_SPREAD_PCT = 20.0  # a per-module time whose p10–p90 spans more of its median is marked ⚠


def spread_pct(median, p10, p90) -> float | None:
    """(p90 - p10) / median in %, the spread a per-module time is judged by; None when it cannot
    be told."""
    if is_missing(median) or is_missing(p10) or is_missing(p90) or not median > 0:
        return None
    return 100.0 * (p90 - p10) / median


def duration(x_ms) -> str:
    """A time held in ms, in engineering form with its unit (never 7.41e+03 ms):
    7412 -> '7.41 s', 34.7 -> '34.7 ms', 0.0123 -> '12.3 µs'."""
    if is_missing(x_ms):
        return "n/a"
    for div, unit in ((1e3, "s"), (1.0, "ms"), (1e-3, "µs")):
        if abs(x_ms) >= div:
            return f"{_sig(x_ms / div, 3)} {unit}"
    return "0 ms" if x_ms == 0 else f"{_sig(x_ms * 1e6, 3)} ns"


def nbytes(n) -> str:
    """A size in binary units with its unit: 84725000 -> '80.8 MiB', 1.3e9 -> '1.21 GiB'."""
    if is_missing(n):
        return "n/a"
    for exp, unit in ((3, "GiB"), (2, "MiB"), (1, "KiB")):
        if abs(n) >= 1024 ** exp:
            return f"{_sig(n / 1024 ** exp, 3)} {unit}"
    return f"{int(n)} B"
