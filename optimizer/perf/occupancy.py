"""How many sequences a continuous-batching instance holds under Poisson arrivals
(docs/model.md §8), vectorized over configurations.

Requests arrive at rate λ; each sequence in decode emits one token per step and ends after a
token with probability 1/O (output lengths geometric with mean O); a step holding n sequences
takes ``t(n) = α + β·n``. The count n is then a birth–death chain (births λ, deaths
``n / (O·t(n))``) whose stationary law is

    π(n) ∝ Π_{k ≤ n} λ·O·(α + β·k) / k = ρⁿ · C(n + r − 1, n),   ρ = λ·O·β,  r = t(1) / β,

a negative binomial of size ``r`` with mean ``B = r·ρ / (1 − ρ)`` (the Little's-law batch
``B = λ·O·t(1 + B)``) and variance ``B + B² / r``. A memory-bound step (β → 0, r → ∞) gives
the Poisson count of M/G/∞; a compute-bound one (α → 0, r → 1) the geometric count of a
processor-sharing queue, whose spread grows as 1/(1 − ρ) toward saturation.
"""

from __future__ import annotations

import numpy as np

POISSON_SIZE = 1e12  # a size at least this large is the Poisson limit


def _sizes(size) -> tuple[np.ndarray, np.ndarray]:
    """(where the count is Poisson, the negative-binomial size elsewhere: 1 there, a finite
    placeholder the Poisson branch ignores)."""
    size = np.asarray(size, dtype=np.float64)
    poisson = size >= POISSON_SIZE
    return poisson, np.where(poisson, 1.0, size)


def dispersion_size(time_at_one, time_at_top, top) -> np.ndarray:
    """The size ``r = t(1) / β`` of the chord through the step times at 1 and ``top``
    sequences (infinite, Poisson, where the step does not grow with the batch)."""
    one = np.asarray(time_at_one, dtype=np.float64)
    top = np.asarray(top, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (np.asarray(time_at_top, dtype=np.float64) - one) / (top - 1.0)
        size = one / slope
    return np.where((top > 1.0) & (slope > 0.0) & np.isfinite(size), size, np.inf)


def count_cdf(k, mean, size) -> np.ndarray:
    """``P(N ≤ k)`` for the count of mean ``mean`` and size ``size``: the negative-binomial
    CDF ``I_{r/(r+B)}(r, k + 1)``, or the Poisson one ``Q(k + 1, B)`` at infinite size."""
    from optimizer.perf.special import betainc, gammaincc  # SciPy loads where a count is needed

    k = np.floor(np.asarray(k, dtype=np.float64))
    mean = np.maximum(np.asarray(mean, dtype=np.float64), 0.0)
    poisson, r = _sizes(size)
    with np.errstate(invalid="ignore", divide="ignore"):
        nb = betainc(r, np.maximum(k, 0.0) + 1.0, r / (r + mean))
        pois = gammaincc(np.maximum(k, 0.0) + 1.0, mean)
    cdf = np.where(poisson, pois, nb)
    return np.where(k < 0, 0.0, np.where(mean <= 0.0, 1.0, cdf))


def count_quantile(mean, size, quantile) -> np.ndarray:
    """The ``quantile`` of the count: the smallest integer ``k`` with ``P(N ≤ k) ≥ quantile``.
    The CDF's inverse in ``k`` (cdflib's, real-valued) is rounded up, then moved by one count
    where the exact CDF says it is off."""
    from optimizer.perf.special import nbdtrik, pdtrik

    mean = np.maximum(np.asarray(mean, dtype=np.float64), 0.0)
    poisson, r = _sizes(size)
    q, m, poisson, r = np.broadcast_arrays(np.float64(quantile), mean, poisson, r)
    guess = np.empty(q.shape)  # each inverse only where it applies: cdflib's search is slow
    nb = ~poisson
    with np.errstate(invalid="ignore"):
        guess[poisson] = pdtrik(q[poisson], m[poisson])
        guess[nb] = nbdtrik(q[nb], r[nb], r[nb] / (r[nb] + m[nb]))
    k = np.where(np.isfinite(guess), np.maximum(np.ceil(guess), 0.0), 0.0)
    k = np.where(count_cdf(k - 1.0, mean, size) >= quantile - 1e-12, k - 1.0, k)
    k = np.where(count_cdf(k, mean, size) >= quantile - 1e-12, k, k + 1.0)
    return np.where(mean > 0.0, k, 0.0)


def count_mean_within(count, size, quantile: float) -> np.ndarray:
    """The largest mean whose ``quantile`` count is at most ``count`` (0 where ``count`` < 0):
    how much load keeps a step at ``count`` others that often. ``P(N ≤ count)`` falls as the
    mean grows, so the mean where it equals ``quantile`` is the CDF's inverse in its
    probability argument (``I_x(r, count + 1) = quantile`` at ``x = r / (r + B)``; Poisson:
    ``Q(count + 1, B) = quantile``), taken a hair inside."""
    from optimizer.perf.special import betaincinv, gammainccinv

    count = np.floor(np.asarray(count, dtype=np.float64))
    poisson, r = _sizes(size)
    k = np.maximum(count, 0.0) + 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        x = betaincinv(r, k, quantile)
        mean = np.where(poisson, gammainccinv(k, quantile), r * (1.0 - x) / x)
    return np.where(count >= 0, np.maximum(mean, 0.0) * (1.0 - 1e-9), 0.0)
