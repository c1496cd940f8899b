"""Connections to a chain and transaction sending with nonce management and decoded reverts.

One `Chain` per connection; one `Sender` per local account. Senders keep their own nonce under a lock,
so several roles (buyer, providers, oracles) can send from one process, even from several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError
from web3.types import Nonce, RPCEndpoint, RPCResponse, TxParams, TxReceipt, Wei

from mia.protocol.artifacts import artifact, error_decoder
from mia.protocol.errors import ContractRevert, MiaError

EMBEDDED_FUNDER_KEY = "0x" + "00" * 31 + "01"  # eth-tester's first pre-funded account


class TransactionFailed(MiaError):
    """A transaction was mined but reverted, or could not be sent."""


def _signable(tx: TxParams) -> TransactionDictType:
    """web3's TxParams (a TypedDict) and eth-account's plain-dict alias describe the same transaction dict."""
    return cast(TransactionDictType, tx)


def _revert_data(exc: BaseException) -> bytes | None:
    """Raw revert bytes from web3 (RPC nodes) or eth-tester (embedded) exceptions, if any."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        data = getattr(cur, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if isinstance(data, bytes):
            return data
        if type(cur).__module__.startswith("eth_tester") or type(cur).__module__.startswith("eth."):
            for arg in cur.args:
                if isinstance(arg, bytes):
                    return arg
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return None


def decode_revert(exc: BaseException) -> ContractRevert | None:
    """The named contract error behind a web3 / eth-tester exception, or None if it is not a revert."""
    if isinstance(exc, ContractRevert):
        return exc
    data = _revert_data(exc)
    if data is not None:
        return error_decoder().decode(data)
    if isinstance(exc, ContractCustomError | ContractLogicError | ContractPanicError) or "revert" in str(exc).lower():
        return error_decoder().decode(b"")
    return None


@dataclass
class Sender:
    """Signs and sends transactions for one local account, keeping its nonce."""

    chain: Chain
    account: LocalAccount
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _nonce: int | None = None

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def transact(
        self, fn: ContractFunction | ContractConstructor, *, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Estimates (a revert raises the decoded contract error and sends nothing), signs, sends, waits."""
        w3 = self.chain.w3
        params: TxParams = {"from": self.address, "value": Wei(value), "chainId": self.chain.chain_id}
        try:
            if gas is None:
                gas = int(fn.estimate_gas(params) * 1.2) + 10_000
        except Exception as exc:  # web3 raises several types for reverts during estimation
            err = decode_revert(exc)
            if err is not None:
                raise err from None
            raise
        with self._lock:
            if self._nonce is None:
                self._nonce = w3.eth.get_transaction_count(self.address, "pending")
            tx = fn.build_transaction({**params, "gas": gas, "nonce": Nonce(self._nonce)})
            signed = self.account.sign_transaction(_signable(tx))
            try:
                tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            except (Web3RPCError, ValueError) as exc:
                self._nonce = None  # resynchronise on the next send
                raise TransactionFailed(f"could not send from {self.address}: {exc}") from exc
            self._nonce += 1
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.01)
        if receipt["status"] != 1:
            raise self._explain_failure(fn, params, receipt)
        return receipt

    def send_value(self, to: str, amount: int) -> TxReceipt:
        """Plain ETH transfer."""
        w3 = self.chain.w3
        with self._lock:
            if self._nonce is None:
                self._nonce = w3.eth.get_transaction_count(self.address, "pending")
            tx: TxParams = {
                "to": Web3.to_checksum_address(to),
                "value": Wei(amount),
                "gas": 21_000,
                "nonce": Nonce(self._nonce),
                "chainId": self.chain.chain_id,
                "maxFeePerGas": Wei(2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9),
                "maxPriorityFeePerGas": Wei(10**9),
            }
            tx_hash = w3.eth.send_raw_transaction(self.account.sign_transaction(_signable(tx)).raw_transaction)
            self._nonce += 1
        return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.01)

    def _explain_failure(
        self, fn: ContractFunction | ContractConstructor, params: TxParams, receipt: TxReceipt
    ) -> Exception:
        if isinstance(fn, ContractFunction):  # a failed deployment has no call to replay
            try:
                fn.call(params, block_identifier=receipt["blockNumber"] - 1)
            except Exception as exc:
                err = decode_revert(exc)
                if err is not None:
                    return err
        return TransactionFailed(f"transaction {receipt['transactionHash'].hex()} reverted (gas {receipt['gasUsed']})")


class Chain:
    """A web3 connection plus what the SDK needs around it: senders, funding, time control, deploys."""

    def __init__(
        self, w3: Web3, *, kind: str, funder: LocalAccount | None = None, closer: Callable[[], None] | None = None
    ):
        self.w3 = w3
        self.kind = kind
        self.chain_id = w3.eth.chain_id
        self.funder = funder
        self._senders: dict[str, Sender] = {}
        self._closer = closer

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def embedded(cls) -> Chain:
        """In-process eth-tester (py-evm) chain; its first account funds everything else."""
        try:
            from eth_tester import EthereumTester, PyEVMBackend
            from web3 import EthereumTesterProvider
        except ModuleNotFoundError:  # the base install talks to real nodes only
            raise MiaError("the embedded chain needs the embedded extra: pip install 'mia[embedded]'") from None

        class SerializedTesterProvider(EthereumTesterProvider):
            """eth-tester is not thread-safe: one request at a time (a send mines its block within it)."""

            def __init__(self, ethereum_tester: EthereumTester) -> None:
                super().__init__(ethereum_tester)
                self._request_lock = threading.RLock()

            def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
                with self._request_lock:
                    return super().make_request(method, params)

        from mia.sdk import pyevm_speedups

        tester = EthereumTester(PyEVMBackend())
        pyevm_speedups.install(tester)
        w3 = Web3(SerializedTesterProvider(tester))
        return cls(w3, kind="embedded", funder=Account.from_key(EMBEDDED_FUNDER_KEY))

    @classmethod
    def rpc(
        cls,
        url: str,
        *,
        funder: LocalAccount | None = None,
        kind: str = "rpc",
        closer: Callable[[], None] | None = None,
    ) -> Chain:
        """Any HTTP(S) JSON-RPC endpoint (web3's websocket provider is async-only, and the SDK is synchronous)."""
        if url.startswith(("ws://", "wss://")):
            raise MiaError(f"websocket endpoints are not supported, use the node's http(s) URL instead of {url}")
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        if not w3.is_connected():
            raise MiaError(f"cannot reach a node at {url}")
        return cls(w3, kind=kind, funder=funder, closer=closer)

    def close(self) -> None:
        if self._closer:
            self._closer()
            self._closer = None

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounts -----------------------------------------------------------------------------------
    def sender(self, account: LocalAccount) -> Sender:
        """The (cached) sender for `account`."""
        s = self._senders.get(account.address)
        if s is None:
            s = self._senders[account.address] = Sender(self, account)
        return s

    def fund(self, address: str, amount: int) -> None:
        """Sends ETH from the chain's funder account (dev chains)."""
        if self.funder is None:
            raise MiaError("this chain has no funder account; fund the address yourself")
        self.sender(self.funder).send_value(address, amount)

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(Web3.to_checksum_address(address))

    # -- time ---------------------------------------------------------------------------------------
    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_to(self, timestamp: int) -> None:
        """Mines a block at `timestamp` (dev chains only)."""
        if timestamp <= self.now():
            return
        if self.kind == "embedded":
            # eth-tester's time_travel(t) mines a block at t - 1 and opens the pending block at t; only the
            # embedded chain's provider (an EthereumTesterProvider) has it
            self.w3.provider.ethereum_tester.time_travel(timestamp + 1)  # type: ignore[attr-defined]
        elif self.kind == "anvil":
            self.w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [timestamp])
            self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        else:
            raise MiaError("time can only be advanced on a development chain")

    def advance(self, seconds: int) -> None:
        self.advance_to(self.now() + seconds)

    # -- contracts ----------------------------------------------------------------------------------
    def deploy(self, contract: str | Mapping[str, Any], *args: Any, deployer: LocalAccount | None = None) -> Contract:
        """Deploys `contract` (a shipped contract's name, or an artifact with `abi` and `bytecode`) and
        returns the bound contract object."""
        account = deployer or self.funder
        if account is None:
            raise MiaError("no deployer account")
        art = artifact(contract) if isinstance(contract, str) else contract
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self.sender(account).transact(factory.constructor(*args))
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionFailed(
                f"deploying {contract if isinstance(contract, str) else 'a contract'} created no contract"
            )
        return self.w3.eth.contract(address=address, abi=art["abi"])
