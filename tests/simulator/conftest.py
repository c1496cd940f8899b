"""Small, seeded markets shared by the simulator tests (built once per session: valuation takes seconds)."""

from __future__ import annotations

import pytest

from mia.sim.experiments import SIZES
from mia.sim.market import Market, build_market
from mia.sim.repeated import RepeatedMarket, build_repeated


@pytest.fixture(scope="session")
def small_market() -> Market:
    return build_market(SIZES["small"].market)


@pytest.fixture(scope="session")
def small_repeated() -> RepeatedMarket:
    return build_repeated(SIZES["small"].repeated)
