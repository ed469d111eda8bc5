"""Timing: ONE side-by-side harness (harness.py: rotated rounds, warm-up, blocks, budget, minimum
rounds) that every timing uses, the budgets of each use (budgets.py), medians, ratios and their
verdicts (stats.py, reliability.py), every operator timed where it runs (operators.py), the
accounting that splits the end-to-end median into operators and overhead (accounting.py), and
models timed side by side (paired.py)."""
