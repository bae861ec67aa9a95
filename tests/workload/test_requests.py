"""A workload's mean turn, and the same workload at another context."""

from __future__ import annotations

import pytest

from optimizer.catalog.loader import load_catalog
from optimizer.workload.requests import missed_history_share, representative_request


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def web_agent(catalog):
    return catalog.workloads["web-agent"]


def test_mean_turn_of_an_accumulating_workload_is_its_mid_session_context(web_agent):
    shape = representative_request(web_agent)
    # 2,000 initial + 1,500 new + (25 - 1) / 2 × (1,500 new + 200 output) = 23,900 tokens,
    # under the 40,000-token cap; at its own context the cached part is its measured 90 %
    assert shape.input_tokens == pytest.approx(23_900)
    assert shape.prefix_tokens == pytest.approx(0.9 * 23_900)
    assert shape.output_tokens == 200


def test_the_missed_share_is_of_the_history_not_of_the_input(web_agent):
    # uncached 0.1 × 23,900 = 2,390 tokens, 1,500 of them new: 890 of the 22,400-token
    # history were prefilled again, 3.97 %
    assert missed_history_share(web_agent) == pytest.approx(890 / 22_400)


def test_a_given_context_keeps_the_missed_share_of_the_history(web_agent):
    shape = representative_request(web_agent, context_tokens=100_000)
    # 100,000 tokens although the workload caps its own at 40,000; its output and new tokens
    # stay, and so does the share of history missed: (100,000 - 1,500) × (1 - 890 / 22,400)
    # = 94,586 cached, 5,414 prefilled (not 10 % of the input, 10,000)
    assert (shape.input_tokens, shape.output_tokens) == (100_000, 200)
    assert shape.prefix_tokens == pytest.approx(98_500 * (1 - 890 / 22_400))
    assert 100_000 - shape.prefix_tokens == pytest.approx(5_414, abs=1)


def test_every_bundled_workload_misses_a_share_of_its_history_between_0_and_1(catalog):
    """The measured hit fractions leave at least the new tokens uncached, so each share is a
    share (chat: (0.28 × 1,136 − 60) / 1,076 = 24 %)."""
    shares = {w: missed_history_share(catalog.workloads[w]) for w in catalog.workloads}
    assert all(0.0 < m < 1.0 for m in shares.values()), shares
    assert shares["chat"] == pytest.approx((0.28 * 1135.87 - 60) / (1135.87 - 60), rel=1e-3)
