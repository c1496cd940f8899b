"""Deploy the MiaAuction contract and record where it lives."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from mia.protocol.artifacts import manifest
from mia.protocol.errors import MiaError
from mia.sdk.chain import Chain

DEPLOYMENTS_DIR = Path("deployments")


@dataclass(frozen=True)
class Deployment:
    network: str
    chain_id: int
    address: str
    block: int
    deployer: str
    sources_hash: str

    def save(self, directory: Path = DEPLOYMENTS_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.network}-{self.chain_id}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def deploy_mia(chain: Chain, deployer: LocalAccount | None = None, *, network: str | None = None) -> Deployment:
    """Deploys MiaAuction; the record names the chain, address, block and the shipped build's source hash."""
    account = deployer or chain.funder
    if account is None:
        raise MiaError("no deployer key: pass --keystore or set MIA_PRIVATE_KEY")
    contract = chain.deploy("MiaAuction", deployer=account)
    return Deployment(
        network=network or chain.kind,
        chain_id=chain.chain_id,
        address=contract.address,
        block=chain.w3.eth.block_number,
        deployer=account.address,
        sources_hash=manifest()["sources_hash"],
    )
