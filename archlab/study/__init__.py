"""archlab.study: the pipelines the CLI, the notebooks and scripts call.

    from archlab import study
    study.profile_to("dite18")                       # reports/dite18/: report, CSV, summary, plots
    study.compare("variants")                        # every design choice beside its base
    study.compare(["hrnet_w32", "lite18", "dite18"])  # any models, against the first
    study.sweep("dite18", ["num_kernels=4-4-2-1,1-1-1-1", "context=dcm,crw"], inputs="256x192,128x96")
    study.merge(["store-a100", "store-h100"], "reports/merged")  # several machines' stores in one

Their options are two frozen objects (options.py), given whole or by their fields:
`Measure` (what is measured; the store key is derived from it) and `Policy` (reuse, replace, which
store). Each resolves and checks its names and inputs before measuring anything, reuses what the store of
finished measurements holds (reports/store by default), measures the rest, and writes its folder.
"""
from .comparing import compare, default_folder
from .merging import MergeOutcome, merge
from .options import Measure, Policy
from .pipelines import COMPARE_CONVENTIONS, Outcome, profile_to
from .folder import OutputBusy
from .planning import parse_input, plan
from .points import run_points
from .run import Terminated, signals_as_interrupts
from .store import DEFAULT_ROOT, Store, request_key
from .sweeping import CLUSTER_EXTRA, LAUNCHERS, SweepOutcome, sweep

__all__ = ["Measure", "Policy", "profile_to", "compare", "default_folder", "Outcome",
           "COMPARE_CONVENTIONS", "plan",
           "parse_input", "OutputBusy", "Store", "DEFAULT_ROOT", "request_key", "Terminated",
           "signals_as_interrupts", "sweep", "SweepOutcome", "LAUNCHERS", "CLUSTER_EXTRA",
           "run_points", "merge", "MergeOutcome"]
