"""The samplers a search may use, each seeded: multivariate TPE (the default), Gaussian
process (needs the optional torch), NSGA-II and random.

Constraints reach every sampler through ``trial.set_constraint`` (Optuna 5); none is given
the deprecated ``constraints_func``.
"""

from __future__ import annotations

from optimizer.errors import HetplanError

SAMPLERS = ("tpe", "gp", "nsga2", "random")


class SamplerError(HetplanError, ValueError):
    """A sampler that does not exist or cannot run here."""


def check_sampler(name: str) -> None:
    """Raise SamplerError unless ``name`` is a sampler that can run in this environment
    (``gp`` needs torch)."""
    if name not in SAMPLERS:
        raise SamplerError(f"sampler: {name!r} is not one of {', '.join(SAMPLERS)}")
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise SamplerError(
                "sampler gp needs the optional package torch (pip install torch); "
                "use tpe, nsga2 or random without it"
            ) from None


def make_sampler(name: str, *, seed: int, parallel: bool):
    """A fresh ``name`` sampler seeded with ``seed``; ``parallel`` when other processes
    sample the same study at the same time (TPE then imputes their running trials, the
    constant liar, so that workers do not all sample the same point).

    Raises:
        SamplerError: as ``check_sampler``.
    """
    check_sampler(name)
    from optuna import samplers

    if name == "tpe":
        return samplers.TPESampler(seed=seed, multivariate=True, constant_liar=parallel)
    if name == "gp":
        from optimizer.codesign.storage import quietly

        # an evaluation is an optimal fleet: the same design always gives the same values
        return quietly(samplers.GPSampler, seed=seed, deterministic_objective=True)
    if name == "nsga2":
        return samplers.NSGAIISampler(seed=seed)
    return samplers.RandomSampler(seed=seed)
