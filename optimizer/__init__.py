"""hetplan: plan heterogeneous AI-inference fleets with an OI/CF model and an ILP.

The public API is :mod:`optimizer.api`, re-exported here lazily so that ``import optimizer``
stays cheap; each name is imported from its module on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str):
    import optimizer.api as api

    if name == "__all__":
        return ["__version__", *api.__all__]
    if name in api.__all__:
        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")


def __dir__() -> list[str]:
    import optimizer.api as api

    return sorted(["__version__", *api.__all__])
