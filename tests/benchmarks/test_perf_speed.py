"""Speed of the vectorized model: evaluations per second (run on demand: -m benchmark).

One evaluation is one (configuration, batch, context) point through the whole step model:
capacity wall, compute, memory, tier, communication, overheads and energy.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from optimizer.catalog.loader import load_catalog
from optimizer.catalog.precision import Precision
from optimizer.perf.config import TierChoice, build_config, stack_configs
from optimizer.perf.efficiency import EfficiencyTable, Phase, table_from_entries
from optimizer.perf.phases import memory, spill_fraction
from optimizer.perf.shape import model_shape
from optimizer.perf.step import step_cost

pytestmark = pytest.mark.benchmark


def _grid(catalog, table: EfficiencyTable):
    configs = []
    tier = TierChoice(catalog.memory["cxl-expander"], 1024.0)
    for acc_id in ("h100-sxm", "h200-sxm", "b200", "mi300x", "gb200", "a100-sxm-80gb"):
        acc = catalog.accelerators[acc_id]
        efficiency, _ = table.lookup(acc.family)
        for tp in (1, 2, 4, 8):
            for weights in (Precision.BF16, Precision.FP8):
                config, _ = build_config(
                    catalog, acc, tp=tp, weights=weights, efficiency=efficiency, tier=tier
                )
                configs.append(config)
    return stack_configs(configs)


def test_step_model_evaluations_per_second():
    catalog = load_catalog()
    table = table_from_entries(
        [*catalog.efficiency.values(), *catalog.overheads.values()], "bundled"
    )
    shape = model_shape(catalog.models["llama-3.1-70b"])
    grid = _grid(catalog, table)
    n_configs = grid.tp.shape[0]
    c = grid.reshape((n_configs, 1, 1))
    batch = np.arange(1, 129, dtype=np.float64).reshape(1, -1, 1)
    context = np.geomspace(1_000, 128_000, 64).reshape(1, 1, -1)
    points = n_configs * batch.size * context.size

    def evaluate():
        mem = memory(shape, c, context, spill=True)
        frac = spill_fraction(batch, mem.max_batch_hbm)
        step = step_cost(shape, c, decode_batch=batch, decode_context=context,
                         phase=Phase.DECODE, spill_frac=frac)  # fmt: skip
        return step.time_s, step.energy_j, mem.max_batch

    evaluate()  # warm up
    runs = 5
    start = time.perf_counter()
    for _ in range(runs):
        time_s, energy_j, wall = evaluate()
    elapsed = (time.perf_counter() - start) / runs
    rate = points / elapsed
    print(f"\n{points:,} points ({n_configs} configs x {batch.size} batches x {context.size} "
          f"contexts) in {elapsed * 1e3:.1f} ms: {rate:,.0f} evaluations/s")  # fmt: skip
    assert np.isfinite(time_s).all() and (energy_j > 0).all() and wall.shape[0] == n_configs
