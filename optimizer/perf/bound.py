"""The binding wall: what limits an operating point (docs/model.md §1, §8), one definition
for perf, fleet, search and report.

An ``IntEnum`` so arrays of walls over configurations stay NumPy integer arrays; ``NONE_CODE``
marks an entry with none (one the model did not rate, as a measured capability). Solution and
estimate JSON hold the ``label``.
"""

from __future__ import annotations

from enum import IntEnum

NONE_CODE = -1


class Bound(IntEnum):
    """What limits an operating point; the first three are a step's own largest term."""

    COMPUTE = 0
    BANDWIDTH = 1
    INTERCONNECT = 2
    CAPACITY = 3
    SLO = 4

    @property
    def label(self) -> str:
        """The name in solution and estimate JSON: ``"compute"`` … ``"slo"``."""
        return self.name.lower()

    @property
    def meaning(self) -> str:
        """The wall in OI/CF terms, for readers of a report."""
        return _MEANINGS[self]

    @classmethod
    def from_code(cls, code) -> Bound | None:
        """The wall of an array entry, None for ``NONE_CODE`` (test with ``is None``:
        ``COMPUTE`` is 0, so falsy)."""
        return None if int(code) == NONE_CODE else cls(int(code))

    @classmethod
    def from_label(cls, label: str) -> Bound:
        """The wall named in JSON."""
        return cls[label.upper()]


_MEANINGS = {
    Bound.COMPUTE: "compute: operational intensity above the ridge point",
    Bound.BANDWIDTH: "bandwidth: operational intensity below the ridge point",
    Bound.INTERCONNECT: "interconnect: collectives and hand-offs dominate the step",
    Bound.CAPACITY: "capacity: batch × capacity footprint fills device memory",
    Bound.SLO: "SLO: the latency target caps the batch (or the queue)",
}
