"""Two speed-ups of the embedded eth-tester chain that change no observable behaviour.

- py-evm's default gas estimator binary-searches the gas limit (~13 EVM runs per transaction).
  `fast_gas_estimator` runs the transaction once at the block gas limit, raising exactly the error
  py-evm's estimator would raise (what the SDK decodes), and otherwise returns the gas used plus
  generous headroom for the 63/64 rule of nested calls.
- eth-tester finds a transaction by hash by scanning every block back from the head, which makes
  receipts and `eth_getLogs` quadratic in the chain's length (an audit makes dozens of such calls).
  `indexed_tx_lookup` uses py-evm's own hash -> (block, index) table instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias, cast

if TYPE_CHECKING:  # py-evm comes with the embedded extra; this module is imported only by Chain.embedded()
    from eth.abc import BlockAPI, ChainAPI, SignedTransactionAPI, StateAPI
    from eth_tester import EthereumTester  # untyped: checked as Any
    from eth_typing import Hash32

# a transaction found by hash: its block, the transaction, its index in the block
Found: TypeAlias = "tuple[BlockAPI, SignedTransactionAPI, int]"

_installed = False


def fast_gas_estimator(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """One EVM run instead of a binary search; same errors as py-evm's `binary_gas_search`."""
    from eth.vm.spoof import SpoofTransaction

    # a spoof forwards every attribute but the overridden ones; py-evm's own estimator casts it the same way
    maximum = cast("SignedTransactionAPI", SpoofTransaction(transaction, gas=state.gas_limit, gas_price=0))
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(maximum)
        error = computation.error if computation.is_error else None
        used = state.gas_limit - computation.get_gas_remaining()
    finally:
        state.revert(snapshot)
    if error is not None:
        raise error
    return min(state.gas_limit, used + used // 2 + 30_000)


def _install_indexed_lookup() -> None:
    global _installed
    if _installed:
        return
    import eth_tester.backends.pyevm.main as pyevm_backend
    from eth.exceptions import TransactionNotFound

    scan: Callable[[ChainAPI, Hash32], Found] = pyevm_backend._get_transaction_by_hash

    def indexed_tx_lookup(chain: ChainAPI, transaction_hash: Hash32) -> Found:
        try:
            number, index = chain.chaindb.get_transaction_index(transaction_hash)
        except TransactionNotFound:
            return scan(chain, transaction_hash)  # pending: not yet in a canonical block
        block = chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    pyevm_backend._get_transaction_by_hash = indexed_tx_lookup
    _installed = True


def install(tester: EthereumTester) -> None:
    """Applies both speed-ups to an `EthereumTester` on the py-evm backend."""
    _install_indexed_lookup()
    tester.backend.chain.gas_estimator = fast_gas_estimator
