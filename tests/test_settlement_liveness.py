"""Liveness of chunked settlement at MAX_PROVIDERS on anvil: a griefer sending RAW signed transactions
with wrong settlement prefixes (a wrong first entry, a skipped entry, two entries swapped, an entry of
weight 0, a correct entry followed by one that skips ahead) between every honest chunk. Every wrong
prefix is mined and reverts, leaving the order where it was; the honest chunks complete the auction;
every transaction stays under the 16,777,216-gas per-transaction cap; the auditor reproduces it all
from events.
"""

from __future__ import annotations

import random
import secrets

import pytest
from eth_account import Account

from mia.protocol.commitment import commitment_of, new_salt
from mia.protocol.order import pack_order_entry, unpack_order_entry
from mia.protocol.types import Phase
from mia.sdk.anvil import anvil_available
from mia.sdk.auction import OracleInfo
from mia.sdk.auditor import Auditor
from mia.sdk.buyer import Buyer, Schedule
from mia.sdk.chunked import PAY_CHUNK, progress, settlement_order
from mia.sdk.oracle import Oracle
from tests.conftest import Env

ETHER = 10**18
WAD = 10**18
TX_CAP = 16_777_216
N = 1000
ORDER_CHUNK = 400


def _raw_many(chain, txs: list[tuple]) -> list:
    """Signs (eth-account) and sends each (account, nonce, data, value, gas) without waiting, then
    returns every receipt: fast enough for thousands of transactions on anvil."""
    w3 = chain.w3
    fee = 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9
    hashes = []
    for acct, nonce, to, data, value, gas in txs:
        tx = {"to": to, "data": data, "value": value, "gas": gas, "nonce": nonce, "chainId": chain.chain_id,
              "maxFeePerGas": fee, "maxPriorityFeePerGas": 10**9}  # fmt: skip
        hashes.append(w3.eth.send_raw_transaction(Account.sign_transaction(tx, acct.key).raw_transaction))
    return [w3.eth.wait_for_transaction_receipt(h, timeout=300) for h in hashes]


@pytest.mark.anvil
@pytest.mark.skipif(not anvil_available(), reason="anvil not installed (run make setup)")
def test_griefer_cannot_dead_end_settlement_at_1000_providers(anvil_env: Env) -> None:
    chain, contract = anvil_env.chain, anvil_env.mia
    rng = random.Random(13)
    buyer_acct = Account.create()
    chain.fund(buyer_acct.address, 1_000 * ETHER)
    oracles = [Account.create() for _ in range(4)]
    griefer = Account.create()
    for a in [*oracles, griefer]:
        chain.fund(a.address, 50 * ETHER)
    buyer = Buyer(chain, contract, buyer_acct)
    window = 3600 + 3 * N
    aid = buyer.create_auction(
        budget=100 * ETHER, deposit=ETHER // 100, threshold=3, fault_tolerance=1,
        oracles=[OracleInfo(o.address, secrets.token_bytes(32)) for o in oracles],
        task_hash=b"\x01" * 32, method_id=1, schedule=Schedule(window, window, window), max_providers=N,
    )  # fmt: skip
    info = buyer.auction(aid)
    provs = [Account.create() for _ in range(N)]
    for p in provs:
        chain.w3.provider.make_request("anvil_setBalance", [p.address, hex(ETHER)])
    openings = [(rng.randint(1, 50) * ETHER // 100, new_salt(), secrets.token_bytes(32)) for _ in provs]
    commits = [
        (p, 0, contract.address, contract.encode_abi("commit", [aid, commitment_of(chain.chain_id, contract.address,
                                                                                     aid, p.address, c, s, r)]),
         info.deposit, 300_000)
        for p, (c, s, r) in zip(provs, openings, strict=True)
    ]  # fmt: skip
    assert all(r["status"] == 1 for r in _raw_many(chain, commits))
    chain.advance_to(info.commit_deadline)
    reveals = [(p, 1, contract.address, contract.encode_abi("reveal", [aid, c, s, r]), 0, 300_000)
               for p, (c, s, r) in zip(provs, openings, strict=True)]  # fmt: skip
    assert all(r["status"] == 1 for r in _raw_many(chain, reveals))
    chain.advance_to(info.reveal_deadline)

    # Scores: every 7th provider has Δ <= 0 (weight 0, not in the order); ties in virtual cost exist.
    scores = {p.address: (rng.choice([WAD, WAD // 2]), -WAD if k % 7 == 3 else rng.choice([WAD, 2 * WAD]))
              for k, p in enumerate(provs)}  # fmt: skip
    honest = []
    for o in oracles:
        client = Oracle(chain, contract, o)
        chunks = client.build_reports(aid, scores, transcript_hash=b"\x02" * 32, deadline=info.scoring_deadline)
        honest += client.post_own(aid, chunks)
    honest += Oracle(chain, contract, oracles[0]).finalize(aid)
    assert buyer.phase(aid) == Phase.SCORED

    indices, entries = settlement_order(buyer, aid)
    m = len(indices)
    ineligible = next(k + 1 for k in range(N) if k % 7 == 3)
    nonce = chain.w3.eth.get_transaction_count(griefer.address)
    f = contract.functions
    griefs = 0
    while (ordered := progress(buyer, aid).ordered) < m:
        rest = indices[ordered:]
        wrong = [[ineligible], [*rest[1:3]], [rest[0], rest[2]] if len(rest) > 2 else [rest[0], ineligible]]
        if len(rest) > 1:
            wrong.append([rest[1], rest[0]])
        receipts = _raw_many(chain, [
            (griefer, nonce + k, contract.address, contract.encode_abi("orderForSettlement", [aid, w]), 0, 8_000_000)
            for k, w in enumerate(wrong)
        ])  # fmt: skip
        nonce += len(wrong)
        assert all(r["status"] == 0 for r in receipts)  # every wrong prefix reverts ...
        assert progress(buyer, aid).ordered == ordered  # ... and leaves the order where it was
        griefs += len(wrong)
        honest.append(buyer.sender.transact(f.orderForSettlement(aid, rest[:ORDER_CHUNK])))
    assert griefs >= 8
    first = unpack_order_entry(entries[0])  # forged: a higher bid for the cheapest entry
    forged = [pack_order_entry(first.commit_index, first.bid + 1, first.running), *entries[1:]]
    (r,) = _raw_many(chain, [(griefer, nonce, contract.address, contract.encode_abi("settleChunk", [aid, forged, 5]),
                              0, 15_000_000)])  # fmt: skip
    assert r["status"] == 0
    while buyer.phase(aid) != Phase.SETTLED:
        honest.append(buyer.sender.transact(f.settleChunk(aid, entries, PAY_CHUNK)))
    assert max(r["gasUsed"] for r in honest) < TX_CAP
    assert progress(buyer, aid).paid > 0
    report = Auditor(chain, contract).audit(aid)
    assert report.ok, report.mismatches
