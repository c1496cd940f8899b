"""Connect to a network by name: `embedded` (in-process eth-tester), `anvil` (started here), `rpc` (a URL)."""

from __future__ import annotations

from eth_account import Account

from mia.protocol.errors import MiaError
from mia.sdk.anvil import ANVIL_DEV_KEY, AnvilNode
from mia.sdk.chain import Chain
from mia.sdk.keys import load_signer

NETWORKS = ("embedded", "anvil", "rpc")


def connect(
    network: str = "embedded",
    *,
    rpc_url: str | None = None,
    keystore: str | None = None,
    key_env: str = "MIA_PRIVATE_KEY",
) -> Chain:
    """A `Chain` for `network`. For `anvil` the node is started now and stopped by `chain.close()`.

    For `rpc` the funding/deploying account comes from a keystore file (password from
    `MIA_KEYSTORE_PASSWORD` or a prompt) or a hex key in the environment variable `key_env`.
    """
    if network == "embedded":
        return Chain.embedded()
    if network == "anvil":
        node = AnvilNode().start()
        try:
            return Chain.rpc(node.url, funder=Account.from_key(ANVIL_DEV_KEY), kind="anvil", closer=node.stop)
        except Exception:
            node.stop()
            raise
    if network == "rpc":
        if not rpc_url:
            raise MiaError("--rpc-url is required for the rpc network")
        return Chain.rpc(rpc_url, funder=load_signer(keystore=keystore, key_env=key_env))
    raise MiaError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
