"""The Python packing of settlement-order entries (`mia.protocol.order`) is bit for bit the contract's.

Random fields of every width, packed in Python, must equal `OrderEntryLib.pack` (through
`OrderEntryHarness`) and unpack to the same fields on both sides; a field one bit too wide must be
refused by both (ValueError here, OrderEntryOutOfRange there).
"""

from __future__ import annotations

import random

import pytest

from mia.protocol.order import (
    BID_BITS,
    INDEX_BITS,
    RUNNING_BITS,
    OrderEntry,
    pack_order_entry,
    unpack_order_entry,
)
from mia.sdk.chain import decode_revert
from tools.build_contracts import dev_artifact

WIDTHS = (INDEX_BITS, BID_BITS, RUNNING_BITS)


@pytest.fixture(scope="module")
def harness(chain):
    return chain.deploy(dev_artifact("OrderEntryHarness"))


def _field(rng: random.Random, bits: int) -> int:
    """A random value of at most `bits` bits, often at the edges (0, 1, the largest)."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice([0, 1, (1 << bits) - 1])
    return rng.getrandbits(rng.randint(1, bits))


def test_pack_matches_contract(harness):
    rng = random.Random(14)
    for _ in range(60):
        fields = [_field(rng, bits) for bits in WIDTHS]
        entry = pack_order_entry(*fields)
        assert harness.functions.pack(*fields).call() == entry
        assert tuple(harness.functions.unpack(entry).call()) == tuple(fields)
        assert unpack_order_entry(entry) == OrderEntry(*fields)


def test_unpack_matches_contract_on_any_word(harness):
    rng = random.Random(41)
    for _ in range(30):
        word = rng.getrandbits(256)
        assert tuple(harness.functions.unpack(word).call()) == tuple(unpack_order_entry(word))
        assert pack_order_entry(*unpack_order_entry(word)) == word


@pytest.mark.parametrize("field", range(3))
def test_oversized_field_refused_on_both_sides(harness, field):
    fields = [1, 1, 1]
    fields[field] = 1 << WIDTHS[field]
    with pytest.raises(ValueError, match="does not fit"):
        pack_order_entry(*fields)
    with pytest.raises(Exception) as ei:  # estimation carries the revert data on every backend
        harness.functions.pack(*fields).estimate_gas()
    err = decode_revert(ei.value)
    assert err is not None and err.error_name == "OrderEntryOutOfRange"
    assert list(err.args_dict.values()) == fields


@pytest.mark.parametrize("bad", [-1, 1 << 256, True, 1.0])
def test_unpack_refuses_non_words(bad):
    with pytest.raises(ValueError):
        unpack_order_entry(bad)  # type: ignore[arg-type]
