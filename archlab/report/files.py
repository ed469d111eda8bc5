"""Report folders on disk.

reports/NAME/      report.json (the Report, exact), modules.csv (every module, every convention),
                   summary.md (reads on its own), table.tex (the module tree for a paper),
                   stages.png, top_modules.png, macs_vs_latency.png
reports/variants/  table.csv, table.md, table.tex (booktabs, for a paper), comparison.json,
                   deltas.png, cost_scatter.png, and
                   models/NAME/report.json for every model compared (the resume cache), and
                   pairs/MODEL__vs__BASE.json for every paired timing (its resume cache)
"""
from __future__ import annotations

import os
from pathlib import Path

from .compare import Comparison
from .units import unreliable
from .compare_text import MEDIAN_HEADER, module_delta_lines
from .plots import save_comparison_plots, save_model_plots
from ..results import Report
from .summary import summary_markdown
from .roofline.words import comparison_why_lines
from .tables import conventions_of, module_frame


def writable_dir(path: str | Path) -> Path:
    """Create `path` if needed and check it can be written; OSError with one clear line if not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OSError(f"--out {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create --out {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OSError(f"cannot write to --out {path}: permission denied")
    return path


def write_report(report: Report, out_dir: str | Path, *, depth: int = 2,
                 plots: bool = True) -> dict[str, Path]:
    """Write report.json, modules.csv, summary.md and the plots into `out_dir`."""
    out = writable_dir(out_dir)
    paths = {"report.json": report.save(out / "report.json")}
    frame = module_frame(report, None, conventions=conventions_of(report)).drop(columns=["rel_depth"])
    frame.to_csv(out / "modules.csv", index=False)
    paths["modules.csv"] = out / "modules.csv"
    pngs = save_model_plots(report, out) if plots else {}
    paths.update(pngs)
    (out / "summary.md").write_text(summary_markdown(report, list(pngs), depth=depth))
    paths["summary.md"] = out / "summary.md"
    (out / "table.tex").write_text(report.to_latex(depth=depth))
    paths["table.tex"] = out / "table.tex"
    return paths


def write_comparison(comp: Comparison, out_dir: str | Path, report_paths: dict[str, str | Path],
                     *, plots: bool = True) -> dict[str, Path]:
    """Write table.csv, table.md, comparison.json and the comparison plots into `out_dir`.

    report_paths: where each compared model's report.json lies (made relative to out_dir).
    """
    out = writable_dir(out_dir)
    rel = {n: os.path.relpath(p, out) for n, p in report_paths.items() if n in comp.reports}
    df = comp.to_frame()
    df.to_csv(out / "table.csv", index=False)
    paths = {"table.csv": out / "table.csv"}
    pngs = save_comparison_plots(comp, out) if plots and comp.reports else {}
    paths.update(pngs)
    (out / "table.md").write_text(comparison_markdown(comp, list(pngs)))
    paths["table.md"] = out / "table.md"
    if comp.reports:
        (out / "table.tex").write_text(comp.to_latex())
        paths["table.tex"] = out / "table.tex"
    paths["comparison.json"] = comp.save(out / "comparison.json", rel)
    return paths


def comparison_markdown(comp: Comparison, plots=()) -> str:
    timed = (f"{MEDIAN_HEADER}: whole model, each model timed on its own, minutes apart, median "
             "with p10–p90 in brackets: for reference only. " if comp.latency else "")
    lines = ["# Comparison", "", f"{len(comp.reports)} models measured: {comp.title()}.", "",
             "Each row gives the cost, then (second line) its change against the base, absolute and "
             "in %. MACs [archlab]: every executed op, 1 multiply-add = 1, per batch. paper-hook: the "
             "Lite-/Dite-HRNet README rule in units of 2^20; paper-conv: the HRNet README rule (conv "
             f"and linear only) in units of 2^30. {timed}Peak memory: peak live tensor storage "
             "during a forward pass.", ""]
    if comp.latency:
        lines += ["Latency vs base (paired) is the latency delta: the model and its base timed "
                  "side by side in one run on the same input (after a warm-up, rounds that run "
                  "each once, in alternating order), given as the median of the per-round ratios "
                  "model/base with p10–p90 in brackets; load on the machine weighs on both alike.",
                  ""]
    lines.append(comp.to_markdown())
    lines += _reliability_warnings(comp.to_frame())
    explained = module_delta_lines(comp)
    if explained:
        lines += ["", "## Which modules explain the change", "",
                  "Each variant's operator-timed forward beside its base's, in the same rotated "
                  "rounds as the paired latency; modules matched by name, each with its inclusive "
                  "time, repeated blocks read as one group (`*`). Per group: the change of the "
                  "medians, in % of the base's, and the p10–p90 of the per-round ratio. The "
                  "groups shown carry at least a tenth of the whole change, most specific first "
                  "(comparison.json, `module_deltas`, has every module).", ""] + explained
    lines += comparison_why_lines(comp)
    failed = {n: e for n, e in comp.failures.items()}
    if failed:
        lines += ["", "## Failed", ""] + [f"- **{n}**: {e}" for n, e in failed.items()]
    for p in plots:
        lines += ["", f"![{p}]({p})"]
    return "\n".join(lines).rstrip() + "\n"


def _reliability_warnings(df) -> list[str]:
    """One ⚠ line per latency (a model's own median, or a paired ratio) that is not reliable."""
    out = []
    for _, row in df.iterrows():
        if unreliable(row.get("latency_reliable")):
            out += ["", f"⚠ Latency of {row['model']} (timed on its own) is not reliable: "
                    f"{row['latency_warnings']}."]
        if unreliable(row.get("latency_ratio_reliable")):
            out += ["", f"⚠ Paired latency of {row['model']} against {row['base']} is not reliable: "
                    f"{row['latency_ratio_warnings']}; measure again (`--fresh`)."]
    return out
