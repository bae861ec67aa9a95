"""The OI/CF analytical model: FLOPs, bytes, capacity, time and energy per phase (pure NumPy)."""

from optimizer.perf.arithmetic import (
    attention_flops,
    decode_weight_bytes,
    expected_experts_touched,
    kv_bytes_read,
    linear_flops,
)
from optimizer.perf.roofline import RooflineTime, roofline_time

__all__ = [
    "RooflineTime",
    "attention_flops",
    "decode_weight_bytes",
    "expected_experts_touched",
    "kv_bytes_read",
    "linear_flops",
    "roofline_time",
]
