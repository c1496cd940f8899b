"""Shared view of a deployed MiaAuction: typed reads and the base of every role client."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from mia.protocol.artifacts import artifact, contract_at
from mia.sdk.chain import Chain, Sender

ETH = "0x0000000000000000000000000000000000000000"


class Mechanism(IntEnum):
    """Mirror of `IMiaAuction.Mechanism`: the settlement rule fixed at creation."""

    QMIA = 0
    MIXED_MIA = 1
    MUT = 2
    FAIRSHARE = 3


class Phase(IntEnum):
    """Mirror of `IMiaAuction.Phase`."""

    COMMIT = 0
    REVEAL = 1
    SCORING = 2
    SCORED = 3
    EXPIRED = 4
    SETTLED = 5
    CANCELLED = 6


@dataclass(frozen=True)
class AuctionInfo:
    """Stored state of one auction (`getAuction`)."""

    auction_id: int
    buyer: str
    asset: str
    budget: int
    deposit: int
    commit_deadline: int
    reveal_deadline: int
    scoring_deadline: int
    n_committed: int
    n_revealed: int
    max_providers: int
    method_id: int
    threshold: int
    n_oracles: int
    status: int
    task_hash: bytes
    mechanism: Mechanism = Mechanism.QMIA
    liquidity: int = 10**18
    mut_token: str = ETH
    rho: int = 0
    cash_escrow: int = 0
    fault_tolerance: int = 0
    score_chunk: int = 250
    allowlist_root: bytes = bytes(32)


@dataclass(frozen=True)
class OracleInfo:
    """A committee member: its signing address and its X25519 public key for data delivery."""

    address: str
    encryption_key: bytes


class AuctionClient:
    """Base of the role clients: a contract bound to a chain and (optionally) an account."""

    def __init__(self, chain: Chain, contract: Contract | str, account: LocalAccount | None = None) -> None:
        self.chain = chain
        self.contract = contract if isinstance(contract, Contract) else contract_at(chain.w3, "MiaAuction", contract)
        self.account = account

    @property
    def address(self) -> str:
        if self.account is None:
            raise ValueError("this client has no account")
        return self.account.address

    @property
    def sender(self) -> Sender:
        if self.account is None:
            raise ValueError("this client has no account to send from")
        return self.chain.sender(self.account)

    # -- reads --------------------------------------------------------------------------------------
    def auction(self, auction_id: int) -> AuctionInfo:
        a = self.contract.functions.getAuction(auction_id).call()
        return AuctionInfo(
            auction_id=auction_id,
            buyer=a[0],
            commit_deadline=a[1],
            n_committed=a[2],
            asset=a[3],
            reveal_deadline=a[4],
            n_revealed=a[5],
            budget=a[6],
            deposit=a[7],
            scoring_deadline=a[8],
            max_providers=a[9],
            method_id=a[10],
            threshold=a[11],
            n_oracles=a[12],
            status=a[13],
            task_hash=bytes(a[14]),
            mechanism=Mechanism(a[15]),
            liquidity=a[16],
            mut_token=a[17],
            rho=a[18],
            cash_escrow=a[19],
            fault_tolerance=a[20],
            score_chunk=a[21],
            allowlist_root=bytes(a[22]),
        )

    def phase(self, auction_id: int) -> Phase:
        return Phase(self.contract.functions.phase(auction_id).call())

    def credit(self, account: str, asset: str = ETH) -> int:
        return int(
            self.contract.functions.credits(Web3.to_checksum_address(asset), Web3.to_checksum_address(account)).call()
        )

    def total_owed(self, asset: str = ETH) -> int:
        return int(self.contract.functions.totalOwed(Web3.to_checksum_address(asset)).call())

    def escrow_balance(self, asset: str = ETH) -> int:
        """The contract's actual holding of `asset`."""
        if int(asset, 16) == 0:
            return self.chain.balance(self.contract.address)
        token = self.chain.w3.eth.contract(address=Web3.to_checksum_address(asset), abi=artifact("TestToken")["abi"])
        return int(token.functions.balanceOf(self.contract.address).call())

    def revealed(self, auction_id: int) -> tuple[list[str], list[bytes]]:
        providers, roots = self.contract.functions.revealedProviders(auction_id).call()
        return list(providers), [bytes(r) for r in roots]

    def oracles(self, auction_id: int) -> list[str]:
        return list(self.contract.functions.oraclesOf(auction_id).call())

    # -- writes any role may make -------------------------------------------------------------------
    def settle(self, auction_id: int) -> TxReceipt:
        """Anyone may settle once scores are in (or nobody revealed)."""
        return self.sender.transact(self.contract.functions.settle(auction_id))

    def refund_deposit(self, auction_id: int, provider: str | None = None) -> TxReceipt:
        """Credits a revealed provider's deposit back after the auction ended (weight > 0, or cancelled)."""
        who = Web3.to_checksum_address(provider or self.address)
        return self.sender.transact(self.contract.functions.refundDeposit(auction_id, who))

    def deposit_refundable(self, auction_id: int, provider: str) -> bool:
        """Whether `refundDeposit` would credit `provider` now: the same rule as the contract, from its state."""
        bid = self.contract.functions.getBid(auction_id, Web3.to_checksum_address(provider)).call()
        revealed, refunded = bid[3], bid[4]
        phase = self.phase(auction_id)
        w = self.contract.functions.weightOf(auction_id, Web3.to_checksum_address(provider)).call()
        ended = phase == Phase.CANCELLED or (phase == Phase.SETTLED and w > 0)
        return ended and revealed and not refunded and self.auction(auction_id).deposit > 0

    def withdraw(self, asset: str = ETH) -> int:
        """Withdraws the caller's whole credit in `asset`; returns the amount."""
        amount = self.credit(self.address, asset)
        self.sender.transact(self.contract.functions.withdraw(Web3.to_checksum_address(asset)))
        return amount

    def _approve_if_token(self, asset: str, amount: int) -> None:
        if int(asset, 16) == 0 or amount == 0:
            return
        token = self.chain.w3.eth.contract(address=Web3.to_checksum_address(asset), abi=artifact("TestToken")["abi"])
        self.sender.transact(token.functions.approve(self.contract.address, amount))
