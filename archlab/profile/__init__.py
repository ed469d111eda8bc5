"""archlab.profile: parameters, MACs under every convention, latency and memory, per module, for
any nn.Module (never imports archlab.models).

    from archlab.profile import paired_latency, profile_module, reconcile, sweep
    report = profile_module(model, (3, 256, 192), batch=1, device="cpu")
    reconcile(report)  # where the conventions of TABLE differ, module by module
    paired_latency(variant, base, (3, 256, 192))  # ratio variant/base, timed side by side
"""
from .count.conventions import DEFAULT_CONVENTIONS, RECORDER_CONVENTIONS, TABLE, Convention
from .engine import profile_module, sweep
from .count.ops import register_formula, unregister_formula
from .timing.paired import paired_latency, time_models_side_by_side
from .count.reconcile import reconcile

__all__ = ["TABLE", "Convention", "DEFAULT_CONVENTIONS", "RECORDER_CONVENTIONS", "profile_module",
           "sweep",
           "register_formula", "unregister_formula", "reconcile", "paired_latency",
           "time_models_side_by_side"]
