"""Training cost: the backward pass attributed to modules, memory saved for backward, the step's
counts and time."""
