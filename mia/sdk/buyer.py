"""Buyer role: create and fund auctions, cancel, settle, withdraw the unspent budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from web3 import Web3
from web3.logs import DISCARD

from mia.mechanism.settlement import cash_escrow
from mia.protocol.constants import WAD
from mia.protocol.types import AuctionParams, Mechanism
from mia.sdk.auction import ETH, AuctionClient, OracleInfo


@dataclass(frozen=True)
class Schedule:
    """Phase lengths in seconds, counted from the creation block's successor."""

    commit: int = 3600
    reveal: int = 3600
    scoring: int = 3600


class Buyer(AuctionClient):
    """Creates auctions and escrows the budget in the same transaction."""

    def create_auction(
        self,
        *,
        budget: int,
        deposit: int,
        oracles: Sequence[OracleInfo],
        threshold: int,
        task_hash: bytes,
        method_id: int,
        asset: str = ETH,
        schedule: Schedule = Schedule(),
        start: int | None = None,
        max_providers: int = 100,
        mechanism: Mechanism = Mechanism.QMIA,
        liquidity: int = WAD,
        rho: int = 0,
        model_id: bytes = bytes(32),
        fault_tolerance: int = 0,
        score_chunk: int = 0,
        allowlist_root: bytes = bytes(32),
    ) -> int:
        """Creates and funds an auction; returns its id.

        `mechanism` picks the settlement rule: Q-MIA (cash), Mixed-MIA with liquidity λ (18 decimals: λ·p
        in cash, the rest in MUT), pure MUT, or Fairshare posted prices at `rho` (asset units per unit of
        utility). The cash escrowed now is floor(λ·budget) for the MIA family and the budget for Fairshare;
        for an ERC-20 it is approved first. MUT is one token per auction (`model_id` is recorded in it).
        `fault_tolerance` f declares how many oracles may be corrupted: the contract requires
        len(oracles) >= 3f+1, 2f+1 <= threshold <= len(oracles)-f and the buyer off the committee.
        `score_chunk` sets the providers per scoring chunk (0 = the contract's cap, min(250, 1000 // n)).
        `allowlist_root` (see `mia.sdk.allowlist.Allowlist`) admits only invited providers; without one the
        deposit must be at least `minimum_deposit(budget, max_providers)`.
        """
        t0 = start if start is not None else self.chain.now()
        commit_deadline = t0 + schedule.commit
        params = AuctionParams(
            asset=Web3.to_checksum_address(asset),
            budget=budget,
            deposit=deposit,
            commit_deadline=commit_deadline,
            reveal_deadline=commit_deadline + schedule.reveal,
            scoring_deadline=commit_deadline + schedule.reveal + schedule.scoring,
            max_providers=max_providers,
            threshold=threshold,
            oracles=tuple(Web3.to_checksum_address(o.address) for o in oracles),
            oracle_encryption_keys=tuple(o.encryption_key for o in oracles),
            task_hash=task_hash,
            method_id=method_id,
            mechanism=Mechanism(mechanism),
            liquidity=liquidity if mechanism == Mechanism.MIXED_MIA else 0,
            rho=rho,
            model_id=model_id,
            fault_tolerance=fault_tolerance,
            score_chunk=score_chunk,
            allowlist_root=allowlist_root,
        )
        escrow = cash_escrow(int(mechanism), budget, liquidity)
        self._approve_if_token(asset, escrow)
        value = escrow if int(asset, 16) == 0 else 0
        receipt = self.sender.transact(self.contract.functions.createAuction(params.encode()), value=value)
        (event,) = self.contract.events.AuctionCreated().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["auctionId"])

    def minimum_deposit(self, budget: int, max_providers: int) -> int:
        """Smallest deposit an auction open to anyone accepts (all slots together >= 1% of the budget)."""
        return int(self.contract.functions.minimumDeposit(budget, max_providers).call())

    def cancel(self, auction_id: int) -> None:
        """Cancels: before any commit (buyer only), or by anyone once the scoring deadline passed unscored."""
        self.sender.transact(self.contract.functions.cancel(auction_id))
