"""Named choices that problem files, requests and the model share, defined once."""

from __future__ import annotations

from enum import StrEnum


class TierUse(StrEnum):
    """How an instance uses an attached memory tier."""

    SPILL = "spill"  # active KV beyond device memory lives in the tier, streamed every step
    PARK = "park"  # agent sessions' KV waits in the tier between turns and is reloaded


class Mode(StrEnum):
    """Which step model runs."""

    SOL = "sol"  # pure roofline: full peaks, no fixed overhead, no link latency
    CALIBRATED = "calibrated"  # efficiency factors (the catalog's, or --efficiency FILE)
