"""Timing: the whole model uninstrumented, every operator where it runs, the one side-by-side
harness (rotated order, budget, minimum samples) and the reliability verdict."""
