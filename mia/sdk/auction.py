"""Shared view of a deployed MiaAuction: typed reads and the base of every role client."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from mia.protocol.artifacts import contract_at, erc20_at
from mia.protocol.types import Auction, Bid, Phase
from mia.sdk.chain import Chain, Sender

ETH = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class AuctionInfo(Auction):
    """Stored state of one auction (`getAuction`), with its id."""

    auction_id: int


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
        return AuctionInfo.decode(self.contract.functions.getAuction(auction_id).call(), auction_id=auction_id)

    def bid(self, auction_id: int, provider: str) -> Bid:
        """`provider`'s bid in `auction_id` (all zero if it never committed)."""
        return Bid.decode(self.contract.functions.getBid(auction_id, Web3.to_checksum_address(provider)).call())

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
        return int(erc20_at(self.chain.w3, asset).functions.balanceOf(self.contract.address).call())

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
        bid = self.bid(auction_id, provider)
        phase = self.phase(auction_id)
        w = self.contract.functions.weightOf(auction_id, Web3.to_checksum_address(provider)).call()
        ended = phase == Phase.CANCELLED or (phase == Phase.SETTLED and w > 0)
        return ended and bid.revealed and not bid.deposit_refunded and self.auction(auction_id).deposit > 0

    def withdraw(self, asset: str = ETH) -> int:
        """Withdraws the caller's whole credit in `asset`; returns the amount."""
        amount = self.credit(self.address, asset)
        self.sender.transact(self.contract.functions.withdraw(Web3.to_checksum_address(asset)))
        return amount

    def _approve_if_token(self, asset: str, amount: int) -> None:
        if int(asset, 16) == 0 or amount == 0:
            return
        self.sender.transact(erc20_at(self.chain.w3, asset).functions.approve(self.contract.address, amount))
