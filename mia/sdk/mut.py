"""Marginal Utility Token client: balances, revenue deposits and pro-rata claims."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from mia.protocol.artifacts import contract_at, erc20_at
from mia.sdk.chain import Chain, Sender


@dataclass(frozen=True)
class PoolState:
    """Revenue-pool accounting of one MUT."""

    supply: int
    total_deposited: int
    total_claimed: int
    revenue_per_token: int
    carry: int

    @property
    def unclaimed(self) -> int:
        return self.total_deposited - self.total_claimed


class MutToken:
    """One auction's MUT (its winners alone hold it), bound to a chain and (optionally) an account."""

    def __init__(self, chain: Chain, address: str, account: LocalAccount | None = None) -> None:
        self.chain = chain
        self.contract = contract_at(chain.w3, "MarginalUtilityToken", address)
        self.account = account

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def asset(self) -> str:
        return str(self.contract.functions.asset().call())

    @property
    def auction_id(self) -> int:
        """The auction whose settlement minted this token (and no other can)."""
        return int(self.contract.functions.auctionId().call())

    @property
    def max_supply(self) -> int:
        """Cap fixed at the auction's creation: its budget."""
        return int(self.contract.functions.maxSupply().call())

    def balance_of(self, account: str) -> int:
        return int(self.contract.functions.balanceOf(Web3.to_checksum_address(account)).call())

    def claimable(self, account: str) -> int:
        return int(self.contract.functions.claimable(Web3.to_checksum_address(account)).call())

    def state(self) -> PoolState:
        f = self.contract.functions
        return PoolState(
            supply=f.totalSupply().call(),
            total_deposited=f.totalDeposited().call(),
            total_claimed=f.totalClaimed().call(),
            revenue_per_token=f.revenuePerToken().call(),
            carry=f.carry().call(),
        )

    def _sender(self) -> Sender:
        if self.account is None:
            raise ValueError("this MUT client has no account to send from")
        return self.chain.sender(self.account)

    def deposit_revenue(self, amount: int) -> TxReceipt:
        """Deposits revenue for current holders (ETH as value, or an approved ERC-20)."""
        asset = self.asset
        if int(asset, 16) == 0:
            return self._sender().transact(self.contract.functions.depositRevenue(amount), value=amount)
        self._sender().transact(erc20_at(self.chain.w3, asset).functions.approve(self.address, amount))
        return self._sender().transact(self.contract.functions.depositRevenue(amount))

    def claim(self) -> int:
        """Claims everything the account can; returns the amount."""
        amount = self.claimable(self.account.address) if self.account else 0
        self._sender().transact(self.contract.functions.claim())
        return amount

    def transfer(self, to: str, amount: int) -> TxReceipt:
        return self._sender().transact(self.contract.functions.transfer(Web3.to_checksum_address(to), amount))
