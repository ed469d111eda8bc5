"""Deploy runtimes: eager, BN-folded, torch.compile and ONNX Runtime, each checked against eager and
timed beside it; memory layouts."""
