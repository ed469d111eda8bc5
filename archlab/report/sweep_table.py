"""The table of a sweep (or of merged stores): a comparison's frame with columns added from the outside
— where each row sits in the design space (grid values, input, batch, device) — and which rows are on
the Pareto front: no other row of the same group (input and batch; device) is at most as costly in
MACs and in latency (or params, when latency was not measured) and cheaper in one of them.

The latency a front is drawn on is `latency_paired_ms`: the base's median times the point's paired
ratio to it. Every point of a group shares its base, and a ratio is timed side by side with it, so
load that comes and goes on the machine cannot reorder the points the way medians timed minutes apart
can. A point without a paired ratio (the base itself, a failed pairing) keeps its own median.
"""
from __future__ import annotations

import math

import pandas as pd

from .compare import Comparison
from .units import is_missing, ms, ratio, si, unreliable


def pareto_front(df: pd.DataFrame, x: str, y: str, by=()) -> pd.Series:
    """True for each row not dominated in (x, y), lower is better, among the rows of its `by` group;
    rows missing x or y are never on it."""
    out = pd.Series(False, index=df.index)
    xs, ys = pd.to_numeric(df[x], errors="coerce"), pd.to_numeric(df[y], errors="coerce")
    ok = xs.notna() & ys.notna()
    group = df.loc[ok, list(by)].astype(str).agg("|".join, axis=1) if by else None
    groups = df[ok].groupby(group, sort=False).groups.values() if by else [df.index[ok]]
    for idx in groups:
        best = math.inf
        for i in sorted(idx, key=lambda i: (xs[i], ys[i])):  # cheapest first: each new low in y
            if ys[i] < best:
                out[i], best = True, ys[i]
    return out


def sweep_frame(comp: Comparison, rows: dict[str, dict], *, front_by=(),
                label_columns=()) -> pd.DataFrame:
    """comp.to_frame() with `rows` (label -> extra columns) joined in front, `tag` (the row's short
    label: its grid values, or its model), `reported_ap` where the authors published one, and
    `front` (Pareto front in MACs and latency, or in MACs and params without latency)."""
    from .plots.compare import reported_ap

    df = comp.to_frame()
    extra = pd.DataFrame([{"model": k, **v} for k, v in rows.items()])
    df = df.merge(extra, on="model", how="left")
    df["tag"] = [" · ".join(str(r[c]) for c in label_columns) if label_columns else r["point"]
                 for _, r in df.iterrows()]
    aps = []
    for name in df["model"]:
        rep = comp.reports.get(name)
        ap = reported_ap(rep) if rep is not None else None
        aps.append(f"AP {ap[1]:.1f}{ap[0]} (reported)" if ap else None)
    df["reported_ap"] = aps
    _paired_latency(df)
    timed = df["latency_ms"].notna().any()
    df["front"] = pareto_front(df, "macs", "latency_paired_ms" if timed else "params", front_by)
    first = ["model", *extra.columns.drop("model"), "tag", "front", "latency_paired_ms",
             "reported_ap"]
    return df[first + [c for c in df.columns if c not in first]]


def _paired_latency(df: pd.DataFrame) -> None:
    """latency_paired_ms (with _p10_ms, _p90_ms and _reliable): the base's median times the paired
    ratio where there is one, else the row's own median (see the module doc)."""
    num = lambda c: pd.to_numeric(df[c], errors="coerce")  # noqa: E731 (cells may be None)
    own = num("latency_ms")
    base = df["base"].map(dict(zip(df["model"], own)))
    paired = num("latency_ratio").notna() & base.notna()
    for suffix, paired_ratio, mine in (("", "latency_ratio", "latency_ms"),
                                       ("_p10", "latency_ratio_p10", "latency_p10_ms"),
                                       ("_p90", "latency_ratio_p90", "latency_p90_ms")):
        df[f"latency_paired{suffix}_ms"] = (base * num(paired_ratio)).where(paired, num(mine))
    df["latency_paired_reliable"] = df["latency_ratio_reliable"].where(paired,
                                                                       df["latency_reliable"])


def front_table(df: pd.DataFrame, extra=()) -> str:
    """The rows on the front as markdown, cheapest MACs first (no latency columns when nothing
    was timed)."""
    timed = df["latency_paired_ms"].notna().any()
    heads = ["point", *extra, "params", "MACs[archlab]"] + (
        ["latency ms, base × paired ratio (p10–p90)", "latency vs base (paired)"] if timed else [])
    lines = ["| " + " | ".join(heads) + " |",
             "|---|" + "---|" * len(extra) + "---:|" * (len(heads) - 1 - len(extra))]
    for _, r in df[df["front"]].sort_values([*extra, "macs"]).iterrows():
        lat = "n/a" if is_missing(r["latency_paired_ms"]) else ms(r["latency_paired_ms"])
        if not is_missing(r.get("latency_paired_p10_ms")):
            lat += f" ({ms(r['latency_paired_p10_ms'])}–{ms(r['latency_paired_p90_ms'])})"
        lat += " ⚠" if unreliable(r.get("latency_paired_reliable")) else ""
        paired = "—" if is_missing(r["latency_ratio"]) else ratio(r["latency_ratio"])
        name = r["model"] + (f" ({r['reported_ap']})" if isinstance(r["reported_ap"], str) else "")
        cells = [name, *[str(r[c]) for c in extra], si(r["params"]), si(r["macs"])]
        lines.append("| " + " | ".join(cells + ([lat, paired] if timed else [])) + " |")
    return "\n".join(lines)


def sweep_markdown(df: pd.DataFrame, comp: Comparison, *, title: str, about: list[str],
                   invalid: dict, plots=(), front_by=("input", "batch")) -> str:
    """sweep.md (or merge.md): what was swept, the front, the points that could not be measured."""
    timed = df["latency_ms"].notna().any()
    lines = [f"# {title}", "", *about, "", f"Measured: {comp.title()}.", "",
             "## Pareto front", "",
             ("Points no other point beats in both MACs and latency (the base's median times the "
              "point's paired ratio: timed side by side with the base, load on the machine weighs "
              "on both alike)" if timed else
              "Points no other point beats in both MACs and params (latency not measured)")
             + ", among the points of the same " + " and ".join(front_by) + ". table.md has every "
             "point against the base; table.csv has the grid's columns and `front`.", "",
             front_table(df, extra=[c for c in front_by if c in df.columns])]
    shaky = df[[unreliable(v) for v in df["latency_paired_reliable"]]]
    if timed and len(shaky):
        lines += ["", f"⚠ Latency not reliable for {len(shaky)} point(s) (the machine was busy or "
                      f"the timing spread is wide): {', '.join(shaky['model'])}; see table.md, "
                      "and measure again (`--fresh`) on a quiet machine."]
    if invalid:
        lines += ["", "## Invalid points", ""] + [f"- **{n}**: {why}" for n, why in invalid.items()]
    failed = {n: e for n, e in comp.failures.items() if n not in invalid}
    if failed:
        lines += ["", "## Not measured", ""] + [f"- **{n}**: {why}" for n, why in failed.items()]
    lines += [f"\n![{p}]({p})" for p in plots]
    return "\n".join(lines).rstrip() + "\n"


def saved_text(folder, fmt: str = "table") -> str | None:
    """What `archlab show` prints for a sweep or merged folder (sweep.md or merge.md beside
    table.csv), None for any other: the file as written — what was swept or which devices, the
    front, the invalid points; its plot links left out, a terminal cannot show them — then every
    row of table.csv with the columns that place it (grid values, input, batch; device, threads,
    versions, store), `front` and its costs. csv and json: table.csv whole."""
    from pathlib import Path

    from .display import render

    folder = Path(folder)
    md = next((folder / n for n in ("sweep.md", "merge.md") if (folder / n).is_file()), None)
    if md is None or not (folder / "table.csv").is_file():
        return None
    df = pd.read_csv(folder / "table.csv")
    if fmt in ("csv", "json"):
        return render(df, fmt) + ("" if fmt == "csv" else "\n")
    cols = list(df.columns)
    # sweep_frame puts the placing columns between `model` and `tag`; `point` repeats the model
    placing = [c for c in cols[1:cols.index("tag")] if c != "point"] if "tag" in cols else []
    rows = pd.DataFrame({
        "model": df["model"], **{c: df[c] for c in placing},
        "front": ["★" if f is True or str(f) == "True" else "" for f in df.get("front", [])],
        "params": [si(v) for v in df["params"]], "MACs[archlab]": [si(v) for v in df["macs"]],
        "latency ms (base × paired ratio)": [ms(v) for v in df["latency_paired_ms"]],
        "latency vs base": [ratio(v) for v in df["latency_ratio"]]})
    if df["latency_paired_ms"].isna().all():  # not timed: no columns of n/a
        rows = rows.drop(columns=["latency ms (base × paired ratio)", "latency vs base"])
    text = "\n".join(ln for ln in md.read_text().splitlines() if not ln.startswith("!["))
    title = "## Every point" if md.name == "sweep.md" else "## Every row"
    return text.rstrip() + f"\n\n{title} (★: on the front; table.md has every change against the " \
        f"base)\n\n" + render(rows, "md" if fmt == "md" else "table")
