"""Ratings reused across problems that differ only in traffic rates, limits and solver settings.

Rating every candidate is most of a small solve (1.2 s of the mixed agentic problem's 3 s), and
it depends on the classes' requests and targets, the styles, the pricing, the catalog and the
efficiency factors, never on how many requests arrive (a column's capability is what one
instance serves) nor on the limits and solver settings (``ilp_input`` reads those). A study that
sweeps rates or limits therefore rates once per worker process.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from optimizer.catalog.catalog import Catalog
from optimizer.catalog.problem_spec import ProblemSpec
from optimizer.fleet.candidates import Fleet, build_fleet, class_traffic

KEPT = 8
"""Rated fleets kept per process, the least recently used dropped first."""

_kept: OrderedDict[str, Fleet] = OrderedDict()
_lock = threading.Lock()

_NOT_RATED = {"problem", "constraints", "solver"}
"""Problem sections rating never reads (names, limits, solver settings)."""


def rating_key(catalog: Catalog, spec: ProblemSpec, economics, efficiency) -> str:
    """A SHA-256 over everything rating reads: the catalog's files, the efficiency factors,
    the economics, and the problem without its rates and the sections rating never reads."""
    problem = spec.model_dump(mode="json", exclude=_NOT_RATED)
    for serve in problem["serve"]:
        serve["requests_per_s"] = serve["sessions_per_s"] = None
    text = json.dumps(
        [catalog.fingerprint, repr(efficiency), economics.model_dump(mode="json"), problem],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def rated_fleet(catalog: Catalog, spec: ProblemSpec, economics, efficiency) -> Fleet:
    """``build_fleet``'s fleet, rated afresh or taken from an earlier problem with the same
    rating key, with this problem's rates."""
    key = rating_key(catalog, spec, economics, efficiency)
    with _lock:
        fleet = _kept.get(key)
        if fleet is not None:
            _kept.move_to_end(key)
    if fleet is None:
        fleet = build_fleet(catalog, spec, economics, efficiency)
        with _lock:
            _kept[key] = fleet
            while len(_kept) > KEPT:
                _kept.popitem(last=False)
    traffic = class_traffic(catalog, spec)
    rates = np.array([t.requests_per_s for t in traffic])
    return replace(fleet, traffic=traffic, classes=replace(fleet.classes, requests_per_s=rates))
