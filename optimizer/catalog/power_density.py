"""How much of its tensor cores' full clock an accelerator's TDP pays for, judged against the
other parts of its family (docs/model.md §9).

Parts of one family share their silicon, so a tensor-core FLOP costs them about the same
energy at the same clock. Their TDPs differ: an H100 SXM has 630 W above idle for 989 dense
bf16 TFLOP/s, an H100 PCIe 302 W for 756. The PCIe card's spec peak is its boost clock, which
its TDP cannot hold under a full GEMM load: it draws its TDP and runs the GEMMs slower.
"""

from __future__ import annotations

import statistics

from optimizer.catalog.hardware import Accelerator
from optimizer.catalog.host import idle_fraction_of_tdp, idle_power_w

MIN_PEERS = 3


def dynamic_w_per_tflops(catalog, acc: Accelerator, idle_share=None) -> float | None:
    """W above idle its TDP allows per dense bf16 TFLOP/s (None without a bf16 peak);
    ``idle_share``: ``idle_power_w``'s, where the caller has it already."""
    peak = acc.dense_tflops.bf16
    if peak is None:
        return None
    idle, _ = idle_power_w(catalog, acc, idle_share)
    return (acc.tdp_w - idle) / peak


def compute_power_scale(catalog, acc: Accelerator) -> float:
    """``k ≥ 1``: the dynamic power its compute draws at the spec peak over what its TDP
    budgets, relative to its family: the family's median W per TFLOP/s over its own. 1 for a
    part at or above the median (the parts whose TDP is sized for their peak), for one without
    a bf16 peak, and in a family of fewer than three such parts (a median of two is their mean:
    the one part judged would set half of it)."""
    share = idle_fraction_of_tdp(catalog)  # once, not once per peer: it reads them all
    own = dynamic_w_per_tflops(catalog, acc, share)
    peers = [
        w
        for other in catalog.accelerators.values()
        if other.family == acc.family
        and (w := dynamic_w_per_tflops(catalog, other, share)) is not None
    ]
    if own is None or own <= 0 or len(peers) < MIN_PEERS:
        return 1.0
    return max(1.0, statistics.median(peers) / own)
