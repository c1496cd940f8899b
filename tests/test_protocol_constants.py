"""Every on-chain constant, enum and struct that `mia.protocol` states in Python equals the contract's:
read from the deployed MiaAuction's public getters, else from the shipped ABI, else (enum members and
internal constants, which neither exposes) from the Solidity source."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from eth_utils import keccak

from mia.protocol import constants
from mia.protocol.artifacts import artifact, shipped
from mia.protocol.constants import MAX_COST, MAX_LIQUIDITY, WAD
from mia.protocol.contract_errors import CONTRACT_ERRORS
from mia.protocol.reports import SCORE_REPORT_TYPES
from mia.protocol.types import (
    ENUMS,
    STRUCTS,
    AbiMismatch,
    AuctionParams,
    AuctionStatus,
    Bid,
    Mechanism,
    Phase,
    snake_case,
    struct_components,
)
from tests.conftest import ETHER, AuctionRun, Env

ROOT = Path(__file__).resolve().parents[1]
GETTERS = ("MAX_ORACLES", "MAX_PROVIDERS", "MAX_QUALITY", "MAX_ABS_DELTA", "SCORING_ROUND", "MAX_SCORE_CHUNK",
           "MAX_SCORE_CELLS", "MIN_SLOT_BOND_DIVISOR")  # fmt: skip


def _abi(name: str = "MiaAuction") -> list[dict]:
    return artifact(name)["abi"]


def _solidity_enum(path: str, name: str) -> list[str]:
    body = re.search(rf"enum {name}\s*{{([^}}]*)}}", (ROOT / path).read_text())
    assert body, f"no enum {name} in {path}"
    return [m.strip() for m in body.group(1).split(",") if m.strip()]


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("components", ()))


def _params(abi: list[dict]):
    """Every input, output and tuple component of every entry of `abi`."""
    for entry in abi:
        yield from _walk([*entry.get("inputs", ()), *entry.get("outputs", ())])


def test_every_public_constant_getter_equals_the_python_constant(env: Env):
    for name in GETTERS:
        assert getattr(env.mia.functions, name)().call() == getattr(constants, name), name
    # and no public constant of the contract is left without a Python counterpart (or a test here)
    public = {i["name"] for i in _abi() if i["type"] == "function" and re.fullmatch(r"[A-Z0-9_]+", i["name"])}
    assert public == {*GETTERS, "SCORE_REPORT_TYPEHASH"}


def test_score_report_typehash_and_fields_match_the_wire_format(env: Env):
    fields = SCORE_REPORT_TYPES["ScoreReport"]
    type_string = "ScoreReport(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"
    assert env.mia.functions.SCORE_REPORT_TYPEHASH().call() == keccak(text=type_string)
    assert [f["name"] for f in fields] == list(struct_components("struct IMiaAuction.ScoreReport"))


def test_internal_constants_match_the_sources():
    # WAD is internal everywhere; MAX_QUALITY (public) is defined as 1.0 in the same fixed point
    for path in ("contracts/MiaAuction.sol", "contracts/mechanism/QMIA.sol", "contracts/mechanism/MixedMIA.sol",
                 "contracts/mechanism/Fairshare.sol"):  # fmt: skip
        assert re.search(r"uint256 internal constant WAD = 1e18;", (ROOT / path).read_text()), path
    assert WAD == 10**18 == constants.MAX_QUALITY
    # λ <= WAD is what the contract accepts for Mixed-MIA
    assert "if (p.liquidity > WAD) revert" in (ROOT / "contracts/MiaAuction.sol").read_text()
    assert MAX_LIQUIDITY == WAD


def _uint_bits(struct: dict) -> dict[str, int]:
    return {c["name"]: int(c["type"][4:]) for c in struct["components"] if c["type"].startswith("uint")}


def test_bounds_follow_the_abi_types():
    bid = next(i for i in _params(_abi()) if i.get("internalType") == "struct IMiaAuction.Bid")
    assert _uint_bits(bid)["cost"] == MAX_COST.bit_length() and (MAX_COST + 1).bit_count() == 1
    params = next(i for i in _params(_abi()) if i.get("internalType") == "struct IMiaAuction.AuctionParams")
    bits = {
        c["name"]: int(c["type"].removeprefix("uint")) for c in params["components"] if c["type"].startswith("uint")
    }
    # each bound fits the field that carries it
    assert MAX_LIQUIDITY.bit_length() <= bits["liquidity"]
    assert constants.MAX_PROVIDERS.bit_length() <= bits["maxProviders"]
    assert constants.MAX_SCORE_CHUNK.bit_length() <= bits["scoreChunk"]


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).upper()


def test_enums_match_the_solidity_enums_and_the_abi():
    sources = {
        Phase: ("contracts/interfaces/IMiaAuction.sol", "Phase"),
        Mechanism: ("contracts/interfaces/IMiaAuction.sol", "Mechanism"),
        AuctionStatus: ("contracts/interfaces/IMiaAuction.sol", "Status"),
    }
    for enum, (path, name) in sources.items():
        assert [m.name for m in enum] == [_upper_snake(m) for m in _solidity_enum(path, name)], name
        assert [m.value for m in enum] == list(range(len(enum))), name
    # every enum type any shipped ABI uses has its Python enum, and nothing else is mapped
    used = {
        i["internalType"].removeprefix("enum ")
        for n in shipped()
        for i in _params(artifact(n)["abi"])
        if str(i.get("internalType", "")).startswith("enum ")
    }
    assert used == set(ENUMS)


def test_struct_fields_are_the_abi_components_in_order():
    for struct in STRUCTS:
        names = [f.name for f in dataclasses.fields(struct)]
        assert names == [snake_case(c) for c in struct_components(struct.ABI_TYPE)], struct.__name__


def test_structs_read_by_name_from_the_deployed_contract(env: Env):
    run = AuctionRun(env, [ETHER, 2 * ETHER]).through("revealed")
    info = run.buyer.auction(run.id)
    assert info.auction_id == run.id and info.buyer == run.buyer.address
    assert info.n_committed == info.n_revealed == 2 and info.status is AuctionStatus.OPEN
    assert info.mechanism is Mechanism.QMIA and info.liquidity == WAD
    assert run.phase is Phase.REVEAL
    p0 = run.providers[0]
    bid = p0.bid(run.id, p0.address)
    assert bid == Bid(run.roots[0], ETHER, 1, revealed=True, deposit_refunded=False)
    assert bid.committed and not p0.bid(run.id, env.account(0).address).committed


def test_auction_params_encode_by_name_and_the_liquidity_bound_holds(env: Env):
    from mia.protocol.contract_errors import CONTRACT_ERRORS as errors

    buyer = env.buyer()
    oracle = env.committee(1)[0]
    now = env.chain.now()
    params = AuctionParams(
        asset="0x" + "00" * 20, budget=ETHER, deposit=ETHER, commit_deadline=now + 100, reveal_deadline=now + 200,
        scoring_deadline=now + 300, max_providers=2, threshold=1, oracles=(oracle.address,),
        oracle_encryption_keys=(bytes(32),), task_hash=bytes(32), method_id=7, mechanism=Mechanism.MIXED_MIA,
        liquidity=MAX_LIQUIDITY, rho=0, model_id=bytes(32), fault_tolerance=0, score_chunk=0,
        allowlist_root=bytes(32),
    )  # fmt: skip
    fn = buyer.contract.functions.createAuction
    buyer.sender.transact(fn(params.encode()), value=ETHER)
    created = buyer.auction(env.mia.functions.auctionCount().call())
    assert (created.method_id, created.liquidity, created.max_providers) == (7, MAX_LIQUIDITY, 2)
    too_liquid = dataclasses.replace(params, liquidity=MAX_LIQUIDITY + 1)
    with pytest.raises(tuple(errors.values())):
        buyer.sender.transact(fn(too_liquid.encode()), value=ETHER)


def test_a_struct_that_does_not_match_the_abi_is_refused():
    with pytest.raises(AbiMismatch, match=r"struct IMiaAuction\.Bid"):
        Bid.decode((bytes(32), 1, 2))


def test_a_misspelled_contract_error_is_an_import_error():
    with pytest.raises(ImportError):
        from mia.protocol.contract_errors import CommitmentMismach  # noqa: F401
    with pytest.raises(ImportError):
        from mia.protocol.errors import CommitmentMismatch  # noqa: F401 - lives in contract_errors only
    assert "CommitmentMismatch" in CONTRACT_ERRORS
