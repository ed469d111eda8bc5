"""Counting: the table of conventions, the operator formulas (forward and backward), the counting
recorder, coverage ledgers, reconciliation between conventions, and the external counters (fvcore,
thop)."""
