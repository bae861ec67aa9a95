"""The OI/CF analytical model: FLOPs, bytes, capacity, time and energy per phase (pure NumPy)."""

from optimizer.perf.arithmetic import (
    attention_flops,
    decode_weight_bytes,
    expected_experts_touched,
    kv_bytes_per_sequence,
    kv_bytes_read,
    linear_flops,
)
from optimizer.perf.bound import Bound
from optimizer.perf.capacity import (
    kv_bytes_per_sequence_per_device,
    kv_shards,
    max_batch,
    valid_split,
    weight_bytes_per_device,
)
from optimizer.perf.compute_dtype import ComputePeak, UnsupportedPrecisionError, compute_peak
from optimizer.perf.config import Config, TierChoice, build_config, stack_configs
from optimizer.perf.efficiency import SOL, Efficiency, EfficiencyTable, PhaseEfficiency
from optimizer.perf.serving import Request, ServePhase, ServingPoint, Slo, serve
from optimizer.perf.shape import ModelShape, model_shape
from optimizer.perf.step import StepCost, step_cost

__all__ = [
    "SOL",
    "Bound",
    "ComputePeak",
    "Config",
    "Efficiency",
    "EfficiencyTable",
    "ModelShape",
    "PhaseEfficiency",
    "Request",
    "ServePhase",
    "ServingPoint",
    "Slo",
    "StepCost",
    "TierChoice",
    "UnsupportedPrecisionError",
    "attention_flops",
    "build_config",
    "compute_peak",
    "decode_weight_bytes",
    "expected_experts_touched",
    "kv_bytes_per_sequence",
    "kv_bytes_per_sequence_per_device",
    "kv_bytes_read",
    "kv_shards",
    "linear_flops",
    "max_batch",
    "model_shape",
    "serve",
    "stack_configs",
    "step_cost",
    "valid_split",
    "weight_bytes_per_device",
]
