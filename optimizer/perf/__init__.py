"""The OI/CF analytical model: FLOPs, bytes, capacity, time and energy per phase (pure NumPy)."""

from optimizer.perf.arithmetic import (
    attention_flops,
    decode_weight_bytes,
    expected_experts_touched,
    kv_bytes_per_sequence,
    kv_bytes_read,
    linear_flops,
)
from optimizer.perf.capacity import (
    kv_bytes_per_sequence_per_device,
    kv_shards,
    max_batch,
    valid_split,
    weight_bytes_per_device,
)
from optimizer.perf.compute_dtype import ComputePeak, UnsupportedPrecisionError, compute_peak
from optimizer.perf.roofline import RooflineTime, roofline_time

__all__ = [
    "ComputePeak",
    "UnsupportedPrecisionError",
    "compute_peak",
    "RooflineTime",
    "attention_flops",
    "decode_weight_bytes",
    "expected_experts_touched",
    "kv_bytes_per_sequence",
    "kv_bytes_per_sequence_per_device",
    "kv_bytes_read",
    "kv_shards",
    "linear_flops",
    "max_batch",
    "roofline_time",
    "valid_split",
    "weight_bytes_per_device",
]
