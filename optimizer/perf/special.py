"""The special functions the occupancy counts need, from SciPy, imported without numpy.f2py.

SciPy 1.17's array-API shim copies numpy's namespace with ``from numpy import *``, and so
imports numpy.f2py, the Fortran wrapper generator, with charset_normalizer under it: 0.12 s of
the 0.27 s ``import scipy.special`` took on every rating (2026-12-02), for a module nothing
here uses. It is registered first as a lazy module (``importlib.util.LazyLoader``), which loads
only when something reads one of its names."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np


def _defer(name: str, parent) -> None:
    """Register module ``name`` (an attribute of ``parent``) to load on first use."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    setattr(parent, name.rsplit(".", 1)[1], module)


_defer("numpy.f2py", np)

from scipy.special import (  # noqa: E402 - after the deferral above
    betainc,
    betaincinv,
    gammaincc,
    gammainccinv,
    nbdtrik,
    pdtrik,
)

__all__ = ["betainc", "betaincinv", "gammaincc", "gammainccinv", "nbdtrik", "pdtrik"]
