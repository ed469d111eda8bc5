"""archlab.profile: parameters, MACs under every convention, latency and memory, per module, for
any nn.Module (never imports archlab.models).

    from archlab.profile import profile_module, sweep, reconcile
    report = profile_module(model, (3, 256, 192), batch=1, device="cpu")
    reconcile(report)  # where 'archlab', 'fvcore', 'thop', 'paper-hook', 'paper-conv' differ
"""
from .conventions import CONVENTIONS, DEFAULT_CONVENTIONS, SCALE
from .engine import profile_module, sweep
from .ops import register_formula, unregister_formula
from .reconciliation import reconcile

__all__ = ["CONVENTIONS", "DEFAULT_CONVENTIONS", "SCALE", "profile_module", "sweep",
           "register_formula", "unregister_formula", "reconcile"]
