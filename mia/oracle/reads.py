"""The data room's per-upload chain reads as one raw JSON-RPC batch (phase and the provider's bid).

web3.py spends ~6 ms of CPU on each `call()` (middlewares, formatters); an upload needs two reads,
so with 32 clients that was a tenth of the service's CPU. Here the calldata is ABI-encoded once per
call with eth_abi and both `eth_call`s travel in one HTTP request. Only for http(s) endpoints; any
other URL uses web3. A revert (e.g. an unknown auction id) is `ReadReverted`; a node that cannot be
reached or answers garbage is `ReadFailed`.
"""

from __future__ import annotations

from typing import Any

import httpx
from eth_abi import decode, encode
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector
from web3.contract import Contract

from mia.protocol.safejson import JSONLimitError, loads_bounded

MAX_REPLY = 1024 * 1024


class ReadReverted(Exception):
    """The contract reverted the read (unknown auction, ...)."""


class ReadFailed(Exception):
    """The node could not be asked or gave an unusable answer."""


class ChainReads:
    """Batched `eth_call`s of view functions of one contract at the latest block."""

    def __init__(self, rpc_url: str, contract: Contract, *, timeout: float = 5.0) -> None:
        self.url = rpc_url
        self.address = contract.address
        self.contract = contract
        self.raw = rpc_url.startswith(("http://", "https://"))
        self.http = httpx.Client(timeout=timeout) if self.raw else None
        self._abi: dict[str, tuple[bytes, list[str], list[str]]] = {}
        for item in contract.abi:
            if item["type"] == "function" and item.get("stateMutability") in ("view", "pure"):
                ins = [collapse_if_tuple(dict(i)) for i in item.get("inputs", [])]
                outs = [collapse_if_tuple(dict(o)) for o in item.get("outputs", [])]
                self._abi[item["name"]] = (function_abi_to_4byte_selector(item), ins, outs)

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def call(self, *calls: tuple[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Results of the calls (each a tuple of outputs), in order; raises on any revert or failure."""
        if not self.raw:
            return [self._web3(name, args) for name, args in calls]
        batch = []
        for i, (name, args) in enumerate(calls):
            selector, ins, _ = self._abi[name]
            data = "0x" + (selector + encode(ins, list(args))).hex()
            batch.append({"jsonrpc": "2.0", "id": i, "method": "eth_call",
                          "params": [{"to": self.address, "data": data}, "latest"]})  # fmt: skip
        assert self.http is not None
        try:
            r = self.http.post(self.url, json=batch)
            replies = loads_bounded(r.content, max_bytes=MAX_REPLY)
        except (httpx.HTTPError, JSONLimitError) as exc:
            raise ReadFailed(f"{type(exc).__name__}: {exc}") from None
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise ReadFailed("the node's batch reply does not match the request")
        by_id = {rep.get("id"): rep for rep in replies if isinstance(rep, dict)}
        out = []
        for i, (name, _) in enumerate(calls):
            rep = by_id.get(i)
            if rep is None:
                raise ReadFailed("the node's batch reply misses an answer")
            if "error" in rep:
                err = rep["error"] if isinstance(rep["error"], dict) else {}
                if "revert" in str(err.get("message", "")).lower() or err.get("code") == 3:
                    raise ReadReverted(f"{name} reverted: {str(err.get('message'))[:200]}")
                raise ReadFailed(f"{name}: node error {str(err)[:200]}")
            try:
                result = bytes.fromhex(str(rep.get("result", "")).removeprefix("0x"))
                out.append(tuple(decode(self._abi[name][2], result)))
            except Exception as exc:  # eth_abi raises several types on short or malformed data
                raise ReadFailed(f"{name}: undecodable result ({type(exc).__name__})") from None
        return out

    def _web3(self, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        from mia.protocol.errors import ContractRevert

        try:
            res = getattr(self.contract.functions, name)(*args).call()
        except ContractRevert as exc:
            raise ReadReverted(str(exc)) from None
        except Exception as exc:  # node unreachable or garbage answer
            raise ReadFailed(f"{type(exc).__name__}: {exc}") from None
        return res if isinstance(res, tuple) and len(self._abi[name][2]) > 1 else (res,)
