"""The count of sequences in decode under Poisson arrivals (optimizer.perf.occupancy).

The reference is the birth–death chain itself, summed term by term: births at λ, deaths at
``n / (O·t(n))`` with ``t(n) = α + β·n``, so ``π(n) ∝ Π_{k ≤ n} λ·O·t(k) / k``. Nothing in it
uses the negative-binomial closed form the module states; scipy's Poisson checks the limit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import poisson

from optimizer.perf.occupancy import (
    count_cdf,
    count_mean_within,
    count_quantile,
    dispersion_size,
)


def chain(lam: float, out: float, alpha: float, beta: float, terms: int = 20000):
    """Stationary law of the birth–death chain, normalized over ``terms`` states."""
    log_p = [0.0]
    for k in range(1, terms):
        log_p.append(log_p[-1] + math.log(lam * out * (alpha + beta * k) / k))
    p = np.exp(np.array(log_p) - max(log_p))
    return p / p.sum()


CASES = [  # (λ, O, α, β): light, memory-bound, compute-bound near saturation, in between
    (0.5, 200, 0.02, 1e-5),
    (2.0, 500, 0.012, 1e-6),
    (20.4, 290, 0.010, 0.157e-3),  # an MLPerf Llama-2-70B server on two H100s (ρ ≈ 0.93)
    (5.0, 300, 0.008, 0.4e-3),
]


@pytest.mark.parametrize(("lam", "out", "alpha", "beta"), CASES)
def test_the_count_is_the_chains_stationary_law(lam, out, alpha, beta):
    p = chain(lam, out, alpha, beta)
    n = np.arange(p.size)
    mean = float((n * p).sum())
    assert p[-1] < 1e-30  # the truncation holds all of the mass
    size = dispersion_size(alpha + beta, alpha + beta * 1000, 1000)  # chord of the line
    assert float(size) == pytest.approx((alpha + beta) / beta, rel=1e-9)
    # Little's law: the mean is the batch B = λ·O·t(1 + B) of a linear step
    rho = lam * out * beta
    assert mean == pytest.approx(lam * out * (alpha + beta) / (1 - rho), rel=1e-6)
    cdf = np.cumsum(p)
    for q in (0.5, 0.9, 0.99, 0.999):
        want = int(np.argmax(cdf >= q - 1e-12))
        assert float(count_quantile(mean, size, q)) == want, q
        assert float(count_cdf(want, mean, size)) == pytest.approx(cdf[want], abs=1e-9)


def test_near_saturation_the_spread_far_exceeds_poisson():
    """At ρ ≈ 0.93 the p99 count sits 2-3× further above the mean than a Poisson one would."""
    lam, out, alpha, beta = CASES[2]
    mean = lam * out * (alpha + beta) / (1 - lam * out * beta)
    size = (alpha + beta) / beta
    above = float(count_quantile(mean, size, 0.99)) - mean
    assert above > 2.0 * (poisson.ppf(0.99, mean) - mean)


@pytest.mark.parametrize("mean", [0.0, 0.3, 4.0, 19.5, 250.0, 3000.0])
@pytest.mark.parametrize("q", [0.5, 0.99])
def test_an_infinite_size_is_poisson(mean, q):
    assert float(count_quantile(mean, np.inf, q)) == poisson.ppf(q, mean)
    assert float(dispersion_size(0.01, 0.01, 500)) == np.inf  # a step that does not grow


@pytest.mark.parametrize("size", [1.0, 12.0, 70.0, np.inf])
@pytest.mark.parametrize("count", [0.0, 3.0, 40.0, 900.0])
def test_mean_within_is_the_largest_load_whose_quantile_fits(size, count):
    q = 0.99
    mean = float(count_mean_within(count, size, q))
    assert float(count_quantile(mean, size, q)) <= count
    assert float(count_quantile(mean * 1.001 + 1e-9, size, q)) > count or mean == 0.0
    assert float(count_mean_within(-1.0, size, q)) == 0.0
