"""The backward half of the op table (ops.py): what each gradient costs, and the fused attention
and recurrent kernels of every backend, forward and backward. `register(add)` is called once by
ops.py with its `_add(names, category, formula, rule)`, so the table stays one table."""
from __future__ import annotations

from . import formulas as F
from . import formulas_backward as B
from . import formulas_fused as A

_SDPA_BACKWARD_RULE = (
    "a fused kernel keeps no attention weights: it recomputes them, QK^T again (E MACs a score) "
    "+ 2 FLOPs (exp(s - lse)); then the gradients asked for, per score (B*heads*L*S): dV = P^T dO "
    "(Ev MACs); for dQ or dK, dP = dO V^T (Ev) and the softmax backward (1 MAC + 2 FLOPs); "
    "dQ = dS K (E); dK = dS^T Q (E): all three = (3E + 2Ev + 1) MACs a score (the math backend, "
    "which keeps the weights, runs (2E + 2Ev + 1) as bmm + _softmax_backward_data)")
_RNN_BACKWARD_RULE = (
    "per token (time step x sample), layer and direction: every gate matrix entry once for the "
    "data gradients (W^T dgates) and once for the weight gradient (dgates x^T) = 2 x the forward MACs "
    "(cuDNN/MIOpen: the weight half only when its gradient is asked for); FLOPs = 2 x MACs + 1 per "
    "bias row (the bias gradient's sum) + the gate math per hidden unit (LSTM 18, GRU 13, RNN 3)")


def register(add) -> None:
    add("convolution_backward", "conv", B.conv_backward,
        "the forward conv's MACs once per gradient asked for (input, weight); bias gradient: +1 "
        "FLOP per output-gradient element")
    add("native_batch_norm_backward batch_norm_backward cudnn_batch_norm_backward "
        "miopen_batch_norm_backward", "norm", B.batch_norm_backward,
        "batch statistics: 2 MACs (the reductions sum dy, sum dy*x_hat) + 2 FLOPs per element; "
        "running statistics: 1 MAC per element")
    add("native_layer_norm_backward native_group_norm_backward", "norm", B.norm_stats_backward,
        "3 MACs + 2 FLOPs per element (reductions and the input gradient)")
    add("upsample_bilinear2d_backward upsample_linear1d_backward", "upsample",
        B.per_grad_output(4), "4 MACs per output-gradient element (scattered to 4 neighbours)")
    add("upsample_nearest1d_backward upsample_nearest2d_backward upsample_nearest3d_backward "
        "_upsample_nearest_exact2d_backward", "upsample", B.per_grad_output(0, 1),
        "1 FLOP per output-gradient element (summed into its source)")
    add("_adaptive_avg_pool2d_backward _adaptive_avg_pool3d_backward", "pool",
        B.per_grad_input(1), "1 MAC per input-gradient element")
    add("avg_pool2d_backward avg_pool3d_backward", "pool", B.avg_pool_backward,
        "MACs = output-gradient elements x prod(kernel)")
    add("max_pool2d_with_indices_backward max_pool3d_with_indices_backward "
        "adaptive_max_pool2d_backward embedding_dense_backward", "pool", B.per_grad_output(0, 1),
        "1 FLOP per output-gradient element (routed to its source)")
    add("_softmax_backward_data _log_softmax_backward_data", "softmax", B.softmax_backward,
        "1 MAC + 2 FLOPs per element")
    for name, flops in (("threshold_backward", 1), ("hardtanh_backward", 1),
                        ("leaky_relu_backward", 1), ("sigmoid_backward", 2), ("tanh_backward", 2),
                        ("silu_backward", 4), ("gelu_backward", 6), ("hardswish_backward", 3),
                        ("hardsigmoid_backward", 2), ("elu_backward", 3), ("softplus_backward", 4),
                        ("mish_backward", 8)):
        add(name, "elementwise", F.elementwise(flops), f"{flops} FLOP(s) per element")

    # attention: every SDPA backend's backward counts as the math backend's ops
    add("_scaled_dot_product_flash_attention_for_cpu_backward "
        "_scaled_dot_product_flash_attention_backward _scaled_dot_product_cudnn_attention_backward",
        "matmul", A.sdpa_backward(), _SDPA_BACKWARD_RULE)
    add("_scaled_dot_product_efficient_attention_backward", "matmul", A.sdpa_backward(mask_at=10),
        _SDPA_BACKWARD_RULE + "; grad_input_mask says which are asked for")
    add("_scaled_dot_product_fused_attention_overrideable_backward", "matmul",
        A.sdpa_backward(mask_at=5), _SDPA_BACKWARD_RULE + "; grad_input_mask says which")
    add("_flash_attention_backward _efficient_attention_backward", "matmul",
        A.sdpa_backward(heads_first=False), _SDPA_BACKWARD_RULE + "; (B, L, H, E) layout")
    add("_flash_attention_forward _efficient_attention_forward", "matmul", A.attention_blhd,
        "as scaled_dot_product_attention, (B, L, H, E) layout")

    # recurrent layers: the backends' whole-stack kernels and their backward
    add("_cudnn_rnn", "matmul", A.cudnn_rnn, "the whole stack as lstm / gru / rnn_tanh count it")
    add("miopen_rnn", "matmul", A.miopen_rnn, "the whole stack as lstm / gru / rnn_tanh count it")
    add("mkldnn_rnn_layer_backward", "matmul", A.mkldnn_rnn_layer_backward,
        _RNN_BACKWARD_RULE + "; oneDNN computes every gradient")
    add("_cudnn_rnn_backward", "matmul", A.rnn_stack_backward(
        mode_at=10, hidden_at=11, layers_at=13, bidirectional_at=17, mask_at=21),
        _RNN_BACKWARD_RULE)
    add("miopen_rnn_backward", "matmul", A.rnn_stack_backward(
        mode_at=10, hidden_at=11, layers_at=12, bidirectional_at=16, mask_at=20),
        _RNN_BACKWARD_RULE)
    # a fused cell (CUDA) is its gate math; its matrix products run as separate mm ops
    add("_thnn_fused_lstm_cell", "elementwise", B.first_output_flops(F.LSTM_PER_UNIT),
        f"the gate math: {F.LSTM_PER_UNIT} FLOPs per hidden unit (as lstm)")
    add("_thnn_fused_gru_cell", "elementwise", B.first_output_flops(F.GRU_PER_UNIT),
        f"the gate math: {F.GRU_PER_UNIT} FLOPs per hidden unit (as gru)")
    add("_thnn_fused_lstm_cell_backward_impl", "elementwise",  # first output: (B, 4 x hidden)
        B.first_output_flops(A.LSTM_BACKWARD_PER_UNIT / 4),
        f"the gate math: {A.LSTM_BACKWARD_PER_UNIT} FLOPs per hidden unit")
    add("_thnn_fused_gru_cell_backward", "elementwise",  # first output: (B, 3 x hidden)
        B.first_output_flops(A.GRU_BACKWARD_PER_UNIT / 3),
        f"the gate math: {A.GRU_BACKWARD_PER_UNIT} FLOPs per hidden unit")
