"""A short run of bench/load: 16 concurrent clients, zero errors, zero lost writes."""

from __future__ import annotations

import pytest

from bench.load import run

pytestmark = [pytest.mark.slow, pytest.mark.model]


def test_concurrent_mixed_load_loses_nothing() -> None:
    outcome = run(clients=16, seconds=8)
    assert outcome.errors == []
    assert outcome.lost == []
    assert outcome.checked >= 10
    assert {"add", "search"} <= set(outcome.latencies)
