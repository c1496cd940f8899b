"""Provider role: sealed bids whose openings are backed up before they are sent."""

from __future__ import annotations

from collections.abc import Sequence

from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.types import TxReceipt

from mia.protocol.commitment import commitment_of, new_salt
from mia.protocol.constants import MAX_COST
from mia.protocol.errors import MiaError
from mia.sdk.auction import AuctionClient
from mia.sdk.chain import Chain
from mia.sdk.salts import BidOpening, SaltVault


class Provider(AuctionClient):
    """Commits, reveals and withdraws for one data provider."""

    def __init__(self, chain: Chain, contract: Contract | str, account: LocalAccount | None, vault: SaltVault) -> None:
        super().__init__(chain, contract, account)
        self.vault = vault

    def commit(
        self,
        auction_id: int,
        cost: int,
        dataset_root: bytes,
        *,
        salt: bytes | None = None,
        proof: Sequence[bytes] | None = None,
    ) -> BidOpening:
        """Saves the opening to the encrypted vault, then posts the commitment with the deposit.

        `proof` (from `mia.sdk.allowlist.Allowlist.proof`) is required by auctions that admit only invited
        providers, and sends `commitInvited` instead of `commit`.
        """
        if not 0 <= cost <= MAX_COST:
            raise MiaError(f"cost must be between 0 and {MAX_COST} (2**96-1) base units, got {cost}")
        if len(dataset_root) != 32 or dataset_root == bytes(32):
            raise MiaError("dataset root must be 32 non-zero bytes")
        info = self.auction(auction_id)
        salt = salt or new_salt()
        c = commitment_of(
            self.chain.chain_id, self.contract.address, auction_id, self.address, cost, salt, dataset_root
        )
        opening = BidOpening(
            chain_id=self.chain.chain_id,
            contract=self.contract.address,
            auction_id=auction_id,
            provider=self.address,
            cost=cost,
            salt="0x" + salt.hex(),
            dataset_root="0x" + dataset_root.hex(),
            commitment="0x" + c.hex(),
        )
        self.vault.save(opening)  # durable before anything goes on-chain
        self._approve_if_token(info.asset, info.deposit)
        value = info.deposit if int(info.asset, 16) == 0 else 0
        if proof is None:
            call = self.contract.functions.commit(auction_id, c)
        else:
            call = self.contract.functions.commitInvited(auction_id, c, list(proof))
        self.sender.transact(call, value=value)
        return opening

    def reveal(self, auction_id: int) -> TxReceipt:
        """Reveals the bid saved in the vault for this auction."""
        o = self.vault.get(self.chain.chain_id, self.contract.address, auction_id, self.address)
        return self.sender.transact(
            self.contract.functions.reveal(
                auction_id, o.cost, bytes.fromhex(o.salt[2:]), bytes.fromhex(o.dataset_root[2:])
            )
        )
