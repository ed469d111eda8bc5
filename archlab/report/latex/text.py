"""LaTeX text for archlab's tables: escaping (plain ASCII, so it compiles under pdflatex without
inputenc tricks: ×, – and ⚠ are written $\\times$, -- and $^\\dagger$), the cell formats (numbers in
engineering form with SI prefixes, a change under its value), and the booktabs table itself through
pandas' Styler."""
from __future__ import annotations

import re

import pandas as pd

from ..units import fixed, is_missing, si

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "×": r"$\times$", "–": "--", "—": "---", "−": "$-$", "µ": r"$\mu$", "⚠": r"$^\dagger$",
            "≤": r"$\le$", "≥": r"$\ge$", "·": r"$\cdot$", "\u00a0": "~", "†": r"$^\dagger$"}
# powers in the units of published counts: "2^20" -> $2^{20}$, "1e9" -> $10^{9}$
_POWER = re.compile(r"\b(\d+)\^(\d+)\b|\b1e(\d+)\b")
UNRELIABLE = r"$^\dagger$"


def tex(text) -> str:
    """Text made safe for LaTeX: its special characters escaped, powers set as math."""
    text = "" if text is None else str(text)
    out, last = [], 0
    for m in _POWER.finditer(text):
        out.append(_escape(text[last:m.start()]))
        out.append(f"${m[1]}^{{{m[2]}}}$" if m[1] else f"$10^{{{m[3]}}}$")
        last = m.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def _escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text).encode("ascii", "replace").decode()


def pct(x) -> str:
    """A signed change in %, with a true minus sign: '$-$5.5\\%'."""
    if is_missing(x):
        return ""
    return f"{'$-$' if x < 0 else '$+$'}{abs(x):.1f}\\%"


def with_change(fmt):
    """A cell formatter of (line, value, change in % or None): the value on a model's first line,
    its change in brackets on the second."""
    def cell(t):
        line, value, change = t
        if line:
            return f"({pct(change)})" if not is_missing(change) else ""
        return "--" if is_missing(value) else tex(fmt(value))
    return cell


def spread_cell(fmt, suffix: str = ""):
    """A cell formatter of (line, median, p10, p90, reliable): the median on a model's first line
    (marked when the timing is not reliable), its p10--p90 in brackets on the second."""
    def cell(t):
        line, median, lo, hi, reliable = t
        if line:
            return "" if is_missing(lo) or is_missing(hi) else f"({fmt(lo)}--{fmt(hi)})"
        if is_missing(median):
            return "--"
        return fmt(median) + suffix + (UNRELIABLE if reliable is False else "")
    return cell


def two_lines(columns: dict, formats: dict) -> tuple[dict, list[int]]:
    """Each model's row split in two, as a paper prints an ablation: values on the first line,
    what is in brackets (a change, a p10--p90) on the second, left out where it would be empty;
    one line on a page of nine columns would not fit. `columns` maps a header to one cell per
    model, the first column (the model's name) a string; every other cell a tuple its format reads
    with the line number in front. Returns the columns by line, and each line's model."""
    first, *rest = columns
    n = len(columns[first])
    lines = [(i, line) for i in range(n) for line in (0, 1)
             if line == 0 or any(formats[h]((1, *columns[h][i])) for h in rest)]
    out = {first: [columns[first][i] if line == 0 else "" for i, line in lines]}
    out.update({h: [(line, *columns[h][i]) for i, line in lines] for h in rest})
    return out, [i for i, _ in lines]


def booktabs(columns: dict, formats: dict, *, caption: str, label: str | None,
             bold_rows=(), left: int = 1) -> str:
    """The Styler's booktabs table of `columns` ((name, unit) -> cells: two header rows, the unit
    under the name), each formatted by its entry in `formats` (string cells escaped);
    `bold_rows` (positions) set in bold, the first `left` columns left-aligned."""
    bold = set(bold_rows)
    df = pd.DataFrame(dict(zip(range(len(columns)), columns.values())))
    df.columns = pd.MultiIndex.from_tuples(list(columns))
    formats = {k: f for k, f in formats.items() if f is not None}
    styler = (df.style.hide(axis="index")
              .format(formats, escape="latex", na_rep="--")
              .apply(lambda r: ["font-weight: bold" if r.name in bold else ""] * len(r), axis=1))
    table = styler.to_latex(hrules=True, caption=tex(caption), label=label,
                            position_float="centering", convert_css=True,
                            column_format="l" * left + "r" * (len(df.columns) - left))
    return (f"% {len(df.columns)} columns; needs \\usepackage{{booktabs}} (the rules); in a "
            "two-column paper, table* and \\small\n" + table)


def settings(device, device_name, threads, batch, shape, dtype=None) -> str:
    """Where and how it was measured, in words, for a caption."""
    shape = "x".join(map(str, shape)) if isinstance(shape, (list, tuple)) else shape
    where = f"{device} ({device_name})" if device_name and device_name != device else f"{device}"
    return (f"on {where}, {threads} thread(s), input {shape}, batch {batch}"
            + (f", {dtype}" if dtype else ""))


def rule(entry: dict, unit: bool = True) -> str:
    """A convention's rule in a few words (its first clause), with its published unit."""
    words = re.split(r"[:;]", entry.get("rule", ""), maxsplit=1)[0].strip()
    label = entry.get("published")
    return words + (f", in {label}" if unit and label and entry.get("divisor", 1) != 1 else "")


def count_format(entry: dict):
    """How a count is shown: its published unit where it has one (3 significant digits), else SI."""
    div = entry.get("divisor", 1)
    if div == 1 or not entry.get("published"):
        return si
    return lambda v: fixed(v / div)


def header(name: str, entry: dict) -> tuple[str, str]:
    """A convention's column: its name over its unit (published, or MACs); a gloss in brackets
    ('GFLOPS (1e9 MACs)') is left to the caption, a power of two ('M (2^20)') is the unit."""
    label = entry.get("published") if entry.get("divisor", 1) != 1 else ""
    return tex(name), tex(re.sub(r"\s*\((?![^)]*\^)[^)]*\)", "", label or "MACs"))


