"""EIP-712 oracle score reports: build, sign, hash and recover, exactly as the contract checks them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from mia.protocol.errors import MiaError

DOMAIN_NAME = "mia"
DOMAIN_VERSION = "1"
SCORE_REPORT_TYPES = {
    "ScoreReport": [
        {"name": "auctionId", "type": "uint256"},
        {"name": "round", "type": "uint32"},
        {"name": "providers", "type": "address[]"},
        {"name": "q", "type": "uint256[]"},
        {"name": "delta", "type": "int256[]"},
        {"name": "datasetRoots", "type": "bytes32[]"},
        {"name": "methodId", "type": "uint32"},
        {"name": "transcriptHash", "type": "bytes32"},
        {"name": "deadline", "type": "uint64"},
    ]
}


class ReportFormatError(MiaError, ValueError):
    """A report (or a signed-report body) that is not well formed; the message names the field."""


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class ScoreReport:
    """One oracle's valuation of every revealed provider (field order = the Solidity struct)."""

    auction_id: int
    round: int
    providers: tuple[str, ...]
    q: tuple[int, ...]
    delta: tuple[int, ...]
    dataset_roots: tuple[bytes, ...]
    method_id: int
    transcript_hash: bytes
    deadline: int

    def message(self) -> dict[str, Any]:
        return {
            "auctionId": self.auction_id,
            "round": self.round,
            "providers": [to_checksum_address(p) for p in self.providers],
            "q": list(self.q),
            "delta": list(self.delta),
            "datasetRoots": list(self.dataset_roots),
            "methodId": self.method_id,
            "transcriptHash": self.transcript_hash,
            "deadline": self.deadline,
        }

    def as_tuple(self) -> tuple[Any, ...]:
        """ABI tuple for `postReports`."""
        m = self.message()
        return (
            m["auctionId"],
            m["round"],
            m["providers"],
            m["q"],
            m["delta"],
            m["datasetRoots"],
            m["methodId"],
            m["transcriptHash"],
            m["deadline"],
        )

    @classmethod
    def from_tuple(cls, t: Sequence[Any] | Mapping[str, Any]) -> ScoreReport:
        """From a decoded ABI tuple (a sequence, or a mapping keyed by the Solidity field names)."""
        if isinstance(t, Mapping):
            t = [t[f["name"]] for f in SCORE_REPORT_TYPES["ScoreReport"]]
        return cls(
            auction_id=int(t[0]),
            round=int(t[1]),
            providers=tuple(to_checksum_address(p) for p in t[2]),
            q=tuple(int(x) for x in t[3]),
            delta=tuple(int(x) for x in t[4]),
            dataset_roots=tuple(bytes(r) for r in t[5]),
            method_id=int(t[6]),
            transcript_hash=bytes(t[7]),
            deadline=int(t[8]),
        )


def domain(chain_id: int, contract: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(contract),
    }


def _signable(report: ScoreReport, chain_id: int, contract: str) -> SignableMessage:
    return encode_typed_data(
        domain_data=domain(chain_id, contract), message_types=SCORE_REPORT_TYPES, message_data=report.message()
    )


def digest(report: ScoreReport, chain_id: int, contract: str) -> bytes:
    """The EIP-712 digest (same as `scoreReportDigest` on-chain)."""
    s = _signable(report, chain_id, contract)
    return keccak(b"\x19" + s.version + s.header + s.body)


def sign_report(report: ScoreReport, private_key: bytes | str, chain_id: int, contract: str) -> bytes:
    """65-byte r‖s‖v signature with low s (eth-account normalises s)."""
    signed = Account.sign_typed_data(
        private_key,
        domain_data=domain(chain_id, contract),
        message_types=SCORE_REPORT_TYPES,
        message_data=report.message(),
    )
    return bytes(signed.signature)


def recover_signer(report: ScoreReport, signature: bytes, chain_id: int, contract: str) -> str:
    """Address that signed `report`; raises ValueError on high-s or malformed signatures, like the contract."""
    if len(signature) != 65:
        raise ValueError("signature must be 65 bytes")
    s = int.from_bytes(signature[32:64], "big")
    if s > SECP256K1_N // 2:
        raise ValueError("malleable (high-s) signature")
    return str(Account.recover_message(_signable(report, chain_id, contract), signature=signature))
