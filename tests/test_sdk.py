"""The Python SDK: error decoding, the salt vault, Merkle roots, commitments, EIP-712 digests, nonces."""

from __future__ import annotations

import os
import random
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ETHER, WAD, AuctionRun, Env, dataset_root_for, new_account
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from mia.protocol import contract_errors
from mia.protocol.artifacts import error_decoder
from mia.protocol.commitment import commitment_of
from mia.protocol.contract_errors import AuctionNotFound, CommitmentMismatch, WrongPhase
from mia.protocol.errors import ContractRevert, MiaError, Panic, RevertString, UnknownRevert
from mia.protocol.merkle import canonical_record, dataset_root, leaf_hash, merkle_proof, merkle_root, verify_proof
from mia.protocol.reports import SECP256K1_N, ScoreReport, digest, recover_signer, sign_report
from mia.sdk.chain import Chain, decode_revert
from mia.sdk.provider import Provider
from mia.sdk.salts import BidOpening, SaltVault, VaultError
from tools.build_contracts import dev_artifact


def _error_data(signature: str, types: list[str], values: list) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


# ------------------------------------------------------------------------------------ error decoding


def test_custom_error_decodes_to_its_named_class_with_args():
    err = error_decoder().decode(_error_data("WrongPhase(uint256,uint8)", ["uint256", "uint8"], [5, 2]))
    assert type(err) is WrongPhase and isinstance(err, ContractRevert) and isinstance(err, MiaError)
    assert err.args_dict == {"auctionId": 5, "current": 2}
    assert str(err) == "WrongPhase(auctionId=5, current=Scoring)"
    who = new_account().address
    err = error_decoder().decode(_error_data("CommitmentMismatch(address)", ["address"], [who]))
    assert type(err) is CommitmentMismatch and err.args_dict == {"provider": who}  # checksummed
    hexdata = "0x" + _error_data("ReportExpired(uint256,uint64)", ["uint256", "uint64"], [1, 99]).hex()
    err = error_decoder().decode(hexdata)
    assert type(err) is contract_errors.ReportExpired and err.args_dict == {"report": 1, "deadline": 99}


def test_unknown_selector_and_empty_data_are_unknown_reverts():
    data = bytes.fromhex("deadbeef") + encode(["uint256"], [7])
    err = error_decoder().decode(data)
    assert type(err) is UnknownRevert and err.data == data and "deadbeef" in str(err)
    err = error_decoder().decode(b"")
    assert type(err) is UnknownRevert and "without data" in str(err)


def test_panic_and_revert_string_decoding():
    err = error_decoder().decode(_error_data("Panic(uint256)", ["uint256"], [0x12]))
    assert type(err) is Panic and err.args_dict == {"code": 0x12} and "division by zero" in str(err)
    err = error_decoder().decode(_error_data("Error(string)", ["string"], ["nope"]))
    assert type(err) is RevertString and err.args_dict == {"message": "nope"}


def test_real_panics_from_the_chain_are_decoded(chain):
    harness = chain.deploy(dev_artifact("QMIAHarness"))
    with pytest.raises(Exception) as ei:
        harness.functions.weight(2**255, 2**255 - 1).call()  # q·Δ overflows
    err = decode_revert(ei.value)
    assert type(err) is Panic and err.args_dict == {"code": 0x11}
    with pytest.raises(Exception) as ei:
        harness.functions.settle([1], [1, 1], 10).call()  # more weights than bids: index out of bounds
    err = decode_revert(ei.value)
    assert type(err) is Panic and err.args_dict == {"code": 0x32}


def test_transact_raises_decoded_errors_and_sends_nothing(env: Env):
    buyer = env.buyer()
    nonce = env.w3.eth.get_transaction_count(buyer.address)
    balance = env.chain.balance(buyer.address)
    with pytest.raises(AuctionNotFound) as ei:
        buyer.settle(10**9)
    assert ei.value.args_dict == {"auctionId": 10**9}
    # a require(…, "owner") string from a contract
    receiver = env.chain.deploy(dev_artifact("ReentrantReceiver"))
    with pytest.raises(RevertString) as ei:
        buyer.sender.transact(receiver.functions.configure(env.mia.address, b"", False))
    assert ei.value.args_dict == {"message": "owner"}
    assert env.w3.eth.get_transaction_count(buyer.address) == nonce
    assert env.chain.balance(buyer.address) == balance
    env.chain.fund(buyer.address, 1)  # and the cached nonce is still right afterwards
    buyer.sender.send_value(new_account().address, 1)
    assert env.w3.eth.get_transaction_count(buyer.address) == nonce + 1


def test_websocket_urls_are_refused_with_a_clear_error():
    # web3's websocket provider is async-only; the synchronous SDK says so instead of failing on an import
    for url in ("ws://127.0.0.1:8546", "wss://node.example/ws"):
        with pytest.raises(MiaError, match="websocket endpoints are not supported"):
            Chain.rpc(url)


# ---------------------------------------------------------------------------------------- salt vault


def _opening(k: int) -> BidOpening:
    return BidOpening(
        chain_id=1,
        contract=to_checksum_address("0x" + "ab" * 20),
        auction_id=k,
        provider=new_account().address,
        cost=k * ETHER,
        salt="0x" + keccak(b"salt" + bytes([k])).hex(),
        dataset_root="0x" + dataset_root_for(k).hex(),
        commitment="0x" + keccak(b"c" + bytes([k])).hex(),
    )


@pytest.mark.real_kdf
def test_vault_round_trip_with_production_kdf(tmp_path):
    path = tmp_path / "bids.vault"
    a, b = _opening(1), _opening(2)
    vault = SaltVault(path, "s3cret")
    vault.save(a)
    vault.save(b)
    reopened = SaltVault(path, "s3cret")
    assert reopened.get(a.chain_id, a.contract.lower(), a.auction_id, a.provider) == a
    assert reopened.get(b.chain_id, b.contract, b.auction_id, b.provider.lower()) == b
    assert sorted(reopened.all(), key=lambda o: o.auction_id) == [a, b]
    assert b"s3cret" not in path.read_bytes() and a.salt[2:].encode() not in path.read_bytes()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(VaultError, match="wrong passphrase"):
        SaltVault(path, "S3cret").get(a.chain_id, a.contract, a.auction_id, a.provider)


def test_vault_errors_are_clear(tmp_path):
    path = tmp_path / "bids.vault"
    vault = SaltVault(path, "pw")
    o = _opening(3)
    vault.save(o)
    with pytest.raises(VaultError, match="wrong passphrase"):
        SaltVault(path, "PW").all()
    with pytest.raises(VaultError, match="no saved bid for auction 4"):
        vault.get(o.chain_id, o.contract, 4, o.provider)
    with pytest.raises(VaultError, match="non-empty passphrase"):
        SaltVault(path, "")
    blob = path.read_bytes()

    truncated = tmp_path / "truncated.vault"
    truncated.write_bytes(blob[:20])
    with pytest.raises(VaultError, match="truncated"):
        SaltVault(truncated, "pw").all()
    cut = tmp_path / "cut.vault"
    cut.write_bytes(blob[:-1])
    with pytest.raises(VaultError):
        SaltVault(cut, "pw").all()
    flipped = bytearray(blob)
    flipped[-5] ^= 1
    corrupt = tmp_path / "corrupt.vault"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(VaultError, match="tampered"):
        SaltVault(corrupt, "pw").all()
    foreign = tmp_path / "foreign.vault"
    foreign.write_text('{"not": "a vault"}' * 10)
    with pytest.raises(VaultError, match="not a mia salt vault"):
        SaltVault(foreign, "pw").all()
    assert SaltVault(path, "pw").all() == [o]  # the original is untouched


def test_opening_is_saved_before_the_commit_and_reveal_works_from_a_reopened_vault(env: Env, tmp_path):
    run = AuctionRun(env, [ETHER]).through("created")
    path = tmp_path / "provider.vault"
    account = env.account(10 * ETHER)
    p = Provider(env.chain, env.mia, account, SaltVault(path, "pw"))
    opening = p.commit(run.id, 3 * ETHER, dataset_root_for(5))
    assert bytes(env.mia.functions.getBid(run.id, p.address).call()[0]).hex() == opening.commitment[2:]
    del p  # the process "restarts": a new client re-opens the vault file
    again = Provider(env.chain, env.mia, account, SaltVault(path, "pw"))
    assert again.vault.get(env.chain.chain_id, env.mia.address, run.id, account.address) == opening
    run.to_reveal()
    again.reveal(run.id)
    bid = env.mia.functions.getBid(run.id, account.address).call()
    assert bid[3] is True and bid[1] == 3 * ETHER and bytes(bid[0]) == dataset_root_for(5)  # root replaced seal

    # the opening is written before the transaction: a commit that reverts still left it behind
    late = Provider(env.chain, env.mia, env.account(ETHER), SaltVault(tmp_path / "late.vault", "pw"))
    with pytest.raises(WrongPhase):
        late.commit(run.id, ETHER, dataset_root_for(6))
    saved = late.vault.get(env.chain.chain_id, env.mia.address, run.id, late.address)
    assert saved.cost == ETHER and saved.dataset_root == "0x" + dataset_root_for(6).hex()


def test_provider_rejects_bad_inputs_before_saving(env: Env, tmp_path):
    run = AuctionRun(env, [ETHER]).through("created")
    p = Provider(env.chain, env.mia, env.account(ETHER), SaltVault(tmp_path / "v.vault", "pw"))
    with pytest.raises(MiaError, match="cost"):
        p.commit(run.id, 2**96, dataset_root_for(1))
    with pytest.raises(MiaError, match="dataset root"):
        p.commit(run.id, 1, bytes(32))
    assert not (tmp_path / "v.vault").exists()


# -------------------------------------------------------------------------------------------- merkle


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9])
def test_merkle_proofs_verify_for_every_record(n):
    records = [{"text": f"record {i}", "label": i % 3} for i in range(n)]
    root = merkle_root(records)
    for i in range(n):
        proof = merkle_proof(records, i)
        assert verify_proof(root, leaf_hash(i, records[i]), proof)
        assert not verify_proof(root, leaf_hash(i, {"text": "forged", "label": 0}), proof)
        if n > 1:  # the leaf commits to its position
            assert not verify_proof(root, leaf_hash((i + 1) % n, records[i]), proof)
        if proof:
            bad = [keccak(proof[0]), *proof[1:]]
            assert not verify_proof(root, leaf_hash(i, records[i]), bad)


def test_merkle_root_binds_every_record_and_their_order():
    records = [{"a": i} for i in range(6)]
    root = merkle_root(records)
    assert merkle_root([dict(r) for r in records]) == root  # deterministic
    assert merkle_root([{"a": 0}, *records[1:]]) == root
    for i in range(6):
        changed = list(records)
        changed[i] = {"a": i, "b": 1}
        assert merkle_root(changed) != root
    assert merkle_root([records[1], records[0], *records[2:]]) != root
    assert merkle_root(records[:5]) != root
    with pytest.raises(ValueError, match="empty"):
        merkle_root([])


def test_merkle_leaf_follows_openzeppelin_standard_tree_encoding():
    record = {"b": 2, "a": "é"}
    assert canonical_record(record) == '{"a":"é","b":2}'.encode()
    inner = keccak(encode(["uint256", "bytes32"], [7, keccak(canonical_record(record))]))
    assert leaf_hash(7, record) == keccak(inner)
    # two leaves: the root is the hash of the sorted pair
    l0, l1 = leaf_hash(0, b"x"), leaf_hash(1, b"y")
    assert merkle_root([b"x", b"y"]) == keccak(min(l0, l1) + max(l0, l1))


def test_dataset_root_of_arrays():
    import numpy as np

    x = np.arange(12, dtype=float).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    root = dataset_root(x, y)
    assert root == dataset_root(x.astype(np.float32), y.astype(np.int64))  # canonical float64 bytes
    y2 = y.copy()
    y2[2] = 1
    assert dataset_root(x, y2) != root
    with pytest.raises(ValueError):
        dataset_root(x, y[:3])


# ------------------------------------------------------------------------------ commitment and EIP-712


def test_commitment_matches_the_contract(env: Env):
    rng = random.Random(11)
    for _ in range(8):
        provider = new_account().address
        auction_id = rng.randint(0, 2**64)
        cost = rng.choice([0, 1, 2**96 - 1, rng.randint(0, 2**96 - 1)])
        salt, root = rng.randbytes(32), rng.randbytes(32)
        ours = commitment_of(env.chain.chain_id, env.mia.address, auction_id, provider, cost, salt, root)
        theirs = env.mia.functions.commitmentOf(auction_id, provider, cost, salt, root).call()
        assert ours == bytes(theirs)
    # and it binds the chain, the contract and the provider
    args = (1, new_account().address, 5, b"\x01" * 32, b"\x02" * 32)
    base = commitment_of(env.chain.chain_id, env.mia.address, *args)
    assert base != commitment_of(env.chain.chain_id + 1, env.mia.address, *args)
    assert base != commitment_of(env.chain.chain_id, new_account().address, *args)
    assert base != commitment_of(env.chain.chain_id, env.mia.address, 1, new_account().address, *args[2:])
    with pytest.raises(ValueError):
        commitment_of(1, env.mia.address, 1, args[1], 5, b"\x01" * 31, b"\x02" * 32)


def _random_report(rng: random.Random, n: int) -> ScoreReport:
    return ScoreReport(
        auction_id=rng.randint(0, 2**64),
        round=rng.randint(0, 2**32 - 1),
        providers=tuple(new_account().address for _ in range(n)),
        q=tuple(rng.randint(0, WAD) for _ in range(n)),
        delta=tuple(rng.randint(-(10**36), 10**36) for _ in range(n)),
        dataset_roots=tuple(rng.randbytes(32) for _ in range(n)),
        method_id=rng.randint(0, 2**32 - 1),
        transcript_hash=rng.randbytes(32),
        deadline=rng.randint(0, 2**64 - 1),
    )


@pytest.mark.parametrize("n", [0, 1, 3, 7])
def test_eip712_digest_matches_the_contract(env: Env, n):
    rng = random.Random(n)
    report = _random_report(rng, n)
    on_chain = bytes(env.mia.functions.scoreReportDigest(report.as_tuple()).call())
    assert digest(report, env.chain.chain_id, env.mia.address) == on_chain
    assert digest(report, env.chain.chain_id + 1, env.mia.address) != on_chain
    if n:
        flipped = ScoreReport(**{**report.__dict__, "delta": (-report.delta[0] - 1, *report.delta[1:])})
        assert bytes(env.mia.functions.scoreReportDigest(flipped.as_tuple()).call()) != on_chain


def test_report_signatures_recover_and_reject_high_s(env: Env):
    report = _random_report(random.Random(3), 2)
    signer = new_account()
    sig = sign_report(report, signer.key, env.chain.chain_id, env.mia.address)
    assert recover_signer(report, sig, env.chain.chain_id, env.mia.address) == signer.address
    s = int.from_bytes(sig[32:64], "big")
    high = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(ValueError, match="high-s"):
        recover_signer(report, high, env.chain.chain_id, env.mia.address)
    with pytest.raises(ValueError):
        recover_signer(report, sig[:64], env.chain.chain_id, env.mia.address)
    assert ScoreReport.from_tuple(report.as_tuple()) == report


# -------------------------------------------------------------------------------------------- nonces


def test_many_senders_from_threads_all_land(env: Env):
    token = env.token()
    accounts = [env.account(ETHER) for _ in range(4)]
    jobs = [(a, k) for k in range(5) for a in accounts]  # interleaved senders

    def mint(job):
        account, k = job
        return env.chain.sender(account).transact(token.functions.mint(account.address, 10**k))

    # plus one sender hammered from several threads at once
    solo = env.account(ETHER)
    solo_jobs = [(solo, k) for k in range(6)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(mint, jobs + solo_jobs))
    assert all(r["status"] == 1 for r in receipts)
    assert len({r["transactionHash"] for r in receipts}) == len(jobs) + len(solo_jobs)
    for a in accounts:
        assert env.w3.eth.get_transaction_count(a.address) == 5
        assert token.functions.balanceOf(a.address).call() == 11111
    assert env.w3.eth.get_transaction_count(solo.address) == 6
    assert token.functions.balanceOf(solo.address).call() == 111111
