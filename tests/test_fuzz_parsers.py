"""Fuzzing every parser the SDK and the oracle expose: any input either parses or fails with the project's error.

Allowed failures are the documented ones (MiaError subclasses, LoaderError, the ValueError subclasses
named below); an IndexError, KeyError, AttributeError, TypeError, UnicodeDecodeError or a bare json /
numpy error escaping is a bug. The CLI must exit non-zero with one `error:` line and no traceback.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mia.cli.commands import main
from mia.oracle.dataroom import UploadInvalid, check_plaintext
from mia.oracle.worker import report_from_json, report_to_json, signed_report_from_json
from mia.protocol.errors import MiaError
from mia.protocol.reports import ReportFormatError, ScoreReport
from mia.sdk.dataroom import DataroomError, load_committee, load_dataset
from mia.sdk.keys import KeyLoadError, load_keystore
from mia.sdk.salts import SaltVault, VaultError
from mia.valuation.loaders import (
    LoaderError,
    load_provider_arrays,
    load_provider_jsonl,
    load_validation_arrays,
    load_validation_jsonl,
)
from mia.valuation.transcript import TranscriptError, load_transcript, verify_transcript

FUZZ = settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _dumps(value) -> str:
    return json.dumps(value, allow_nan=True)


# -- reports ----------------------------------------------------------------------------------------

GOOD_REPORT = ScoreReport(
    auction_id=7,
    round=1,
    providers=("0x" + "11" * 20, "0x" + "22" * 20),
    q=(10**18, 5 * 10**17),
    delta=(3, -4),
    dataset_roots=(b"\x01" * 32, b"\x02" * 32),
    method_id=1,
    transcript_hash=b"\x03" * 32,
    deadline=10**9,
)
REPORT_FIELDS = list(report_to_json(GOOD_REPORT))


def test_report_json_round_trip():
    assert report_from_json(report_to_json(GOOD_REPORT)) == ScoreReport.from_tuple(GOOD_REPORT.as_tuple())
    assert issubclass(ReportFormatError, MiaError) and issubclass(ReportFormatError, ValueError)


@FUZZ
@given(value=json_values)
def test_report_from_random_json(value):
    try:
        report_from_json(value)
    except ReportFormatError as exc:
        assert str(exc)


@FUZZ
@given(field=st.sampled_from(REPORT_FIELDS), value=json_values)
def test_report_with_one_corrupted_field(field, value):
    body = {**report_to_json(GOOD_REPORT), field: value}
    try:
        report = report_from_json(body)
    except ReportFormatError as exc:
        assert field in str(exc)
    else:
        assert isinstance(report, ScoreReport)


@FUZZ
@given(body=json_values, field=st.sampled_from(["report", "signature"]), value=json_values)
def test_signed_report_bodies(body, field, value):
    good = {"report": report_to_json(GOOD_REPORT), "signature": "0x" + "ab" * 65}
    for candidate in (body, {**good, field: value}):
        try:
            report, sig = signed_report_from_json(candidate)
        except ReportFormatError as exc:
            assert str(exc)
        else:
            assert isinstance(report, ScoreReport) and isinstance(sig, bytes)


# -- transcripts ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_transcript():
    from mia.valuation import Dataset, ProviderData
    from mia.valuation.transcript import build_transcript

    rng = np.random.default_rng(0)
    val = Dataset(rng.normal(size=(12, 3)), rng.integers(0, 2, 12))
    provs = [ProviderData(f"p{i}", rng.normal(size=(6, 3)), rng.integers(0, 2, 6)) for i in range(2)]
    from mia.valuation.api import value_providers

    result = value_providers(provs, val, method="knn_shapley", k=3)
    return build_transcript(result, provs, val)


@FUZZ
@given(value=json_values)
def test_verify_random_transcript(value):
    res = verify_transcript(value if isinstance(value, dict) else {"providers": value})
    assert not res.ok and res.problems


@FUZZ
@given(data=st.data())
def test_verify_corrupted_transcript(real_transcript, data):
    t = json.loads(json.dumps(real_transcript))
    path = [data.draw(st.sampled_from(sorted(t)))]
    node = t[path[0]]
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    parent = t
    for key in path[:-1]:
        parent = parent[key]
    before = json.dumps(parent[path[-1]], sort_keys=True)
    parent[path[-1]] = data.draw(json_values)
    res = verify_transcript(t)
    if res.ok:  # the hash covers everything but the environment: only a no-op change elsewhere may verify
        assert path[0] == "environment" or json.dumps(parent[path[-1]], sort_keys=True, allow_nan=True) == before
    else:
        assert res.problems


def test_real_transcript_verifies(real_transcript):
    assert verify_transcript(real_transcript).ok


@FUZZ
@given(payload=st.binary(max_size=200))
def test_transcript_file_of_random_bytes(tmp_path, payload):
    path = tmp_path / "t.json"
    path.write_bytes(payload)
    try:
        t = load_transcript(path)
    except TranscriptError as exc:
        assert str(path) in str(exc)
    else:
        assert not verify_transcript(t).ok


# -- datasets -------------------------------------------------------------------------------------

record_values = st.fixed_dictionaries(
    {},
    optional={
        "features": json_values | st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
        "label": json_values,
        "text": json_values,
    },
)
jsonl_lines = st.lists(
    st.one_of(record_values.map(_dumps), json_values.map(_dumps), st.text(max_size=30)), min_size=0, max_size=6
)


@FUZZ
@given(lines=jsonl_lines, junk=st.binary(max_size=40))
def test_jsonl_datasets(tmp_path, lines, junk):
    path = tmp_path / "data.jsonl"
    for payload in ("\n".join(lines).encode(), "\n".join(lines).encode() + junk):
        path.write_bytes(payload)
        try:
            load_validation_jsonl(path)
        except LoaderError as exc:
            assert "validation" in str(exc)
        p = load_provider_jsonl(path, "p1")
        assert p.error is None or "p1" in p.error
        if p.error:
            with pytest.raises(LoaderError):
                load_provider_jsonl(path, "p1", strict=True)
        try:
            records = load_dataset(path)
        except DataroomError as exc:
            assert str(path) in str(exc)
        else:
            assert records and all(isinstance(r, dict) for r in records)
        try:
            checked = check_plaintext(payload, expected_dim=None)
        except UploadInvalid as exc:
            assert str(exc)
        else:
            assert np.isfinite(checked.features).all() and checked.n_records == len(checked.labels)


@FUZZ
@given(payload=st.binary(max_size=300), magic=st.sampled_from([b"", b"\x93NUMPY", b"PK\x03\x04"]))
def test_array_files_of_garbage(tmp_path, payload, magic):
    for suffix in (".npy", ".npz"):
        path = tmp_path / f"x{suffix}"
        path.write_bytes(magic + payload)
        with pytest.raises(LoaderError):
            load_validation_arrays(path)
        assert load_provider_arrays(path, "p1").error
        with pytest.raises(DataroomError):
            load_dataset(path)


@FUZZ
@given(
    shape=st.sampled_from([(0,), (3,), (0, 2), (3, 2), (2, 2, 2)]),
    dtype=st.sampled_from(["f8", "i4", "U3", "b1", "c16"]),
    fill=st.sampled_from([0.0, math.nan, math.inf, 1e308]),
)
def test_array_files_of_odd_arrays(tmp_path, shape, dtype, fill):
    feats = np.full(shape, fill if dtype in ("f8", "c16") else 1).astype(dtype)
    np.save(tmp_path / "f.npy", feats)
    np.save(tmp_path / "l.npy", np.arange(shape[0]))
    try:
        ds = load_validation_arrays(tmp_path / "f.npy", tmp_path / "l.npy")
    except LoaderError:
        pass
    else:
        assert ds.features.ndim == 2 and np.isfinite(ds.features).all()
    np.savez(tmp_path / "d.npz", features=feats, labels=np.arange(shape[0]))
    try:
        records = load_dataset(tmp_path / "d.npz")
    except DataroomError as exc:
        assert "d.npz" in str(exc)
    else:
        assert records and all(math.isfinite(v) for r in records for v in r["features"])


# -- committee, vault, keystore files --------------------------------------------------------------


@FUZZ
@given(value=json_values, payload=st.binary(max_size=60))
def test_committee_files(tmp_path, value, payload):
    path = tmp_path / "committee.json"
    for blob in (_dumps(value).encode(), _dumps({"oracles": [value]}).encode(), payload):
        path.write_bytes(blob)
        try:
            urls = load_committee(path)
        except DataroomError as exc:
            assert str(path) in str(exc)
        else:
            assert all(isinstance(u, str) for u in urls.values())


@FUZZ
@given(payload=st.binary(max_size=120), keep_header=st.booleans())
def test_salt_vault_files(tmp_path, payload, keep_header):
    path = tmp_path / "salts.vault"
    good = SaltVault(tmp_path / "good.vault", "pass phrase")
    from mia.sdk.salts import BidOpening

    good.save(
        BidOpening(1, "0x" + "11" * 20, 1, "0x" + "22" * 20, 5, "0x" + "01" * 32, "0x" + "02" * 32, "0x" + "33" * 32)
    )
    blob = (tmp_path / "good.vault").read_bytes()
    path.write_bytes(blob[: len(blob) // 2] + payload if keep_header else payload)
    with pytest.raises(VaultError):
        SaltVault(path, "pass phrase").all()


@FUZZ
@given(value=json_values, payload=st.binary(max_size=80))
def test_keystore_files(tmp_path, value, payload):
    path = tmp_path / "key.json"
    for blob in (_dumps(value).encode(), payload, _dumps({"version": 3, "crypto": value}).encode()):
        path.write_bytes(blob)
        with pytest.raises(KeyLoadError):
            load_keystore(str(path), "pw")


# -- the command line ------------------------------------------------------------------------------

CLOSED_RPC = "http://127.0.0.1:9"  # nothing listens: every valid command line fails fast with MiaError
words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24)
amounts = st.one_of(words, st.sampled_from(["NaN", "-1", "Infinity", "1e999999", "0.05", "1e-30", "sNaN", "4"]))
hexish = st.one_of(words, st.binary(max_size=40).map(lambda b: "0x" + b.hex()))


def _run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    return code, err


def _assert_clean_failure(code, err: str) -> None:
    assert code not in (0, None), err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0], err


@FUZZ
@given(budget=amounts, deposit=amounts, contract=hexish, task=hexish, oracle=hexish, threshold=words)
def test_cli_auction_create(capsys, monkeypatch, budget, deposit, contract, task, oracle, threshold):
    monkeypatch.setenv("MIA_PRIVATE_KEY", "0x" + "01" * 32)
    argv = ["auction", "create", "--rpc-url", CLOSED_RPC, "--contract", contract, "--budget", budget,
            "--deposit", deposit, "--task-hash", task, "--oracle", oracle, "--threshold", threshold]  # fmt: skip
    _assert_clean_failure(*_run_cli(capsys, argv))


@FUZZ
@given(contract=hexish, auction=words, from_block=words, confirmations=words, url=words)
def test_cli_audit_and_show(capsys, contract, auction, from_block, confirmations, url):
    audit = ["audit", "--rpc-url", CLOSED_RPC, "--contract", contract, "--auction", auction]
    for argv in (
        [*audit, "--from-block", from_block],
        [*audit, "--confirmations", confirmations],
        ["auction", "show", "--rpc-url", url or CLOSED_RPC, "--contract", contract, "--auction", auction],
    ):
        _assert_clean_failure(*_run_cli(capsys, argv))


@FUZZ
@given(payload=st.binary(max_size=120), cost=amounts, committee=st.binary(max_size=60), oracle_url=words)
def test_cli_bid_commit_files(tmp_path, capsys, monkeypatch, payload, cost, committee, oracle_url):
    monkeypatch.setenv("MIA_VAULT_PASSPHRASE", "pp")
    monkeypatch.setenv("MIA_PRIVATE_KEY", "0x" + "01" * 32)
    (tmp_path / "d.jsonl").write_bytes(payload)
    (tmp_path / "c.json").write_bytes(committee)
    argv = ["bid", "commit", "--rpc-url", CLOSED_RPC, "--contract", "0x" + "11" * 20, "--auction", "1",
            "--dataset", str(tmp_path / "d.jsonl"), "--cost", cost, "--committee", str(tmp_path / "c.json"),
            "--oracle-url", oracle_url, "--vault", str(tmp_path / "v.vault")]  # fmt: skip
    _assert_clean_failure(*_run_cli(capsys, argv))


@FUZZ
@given(payload=st.binary(max_size=120), name=st.sampled_from(["t.json", "missing.json", "."]))
def test_cli_valuate_verify(tmp_path, capsys, payload, name):
    (tmp_path / "t.json").write_bytes(payload)
    code, err = _run_cli(capsys, ["valuate", "--verify", str(tmp_path / name)])
    assert code != 0 and "Traceback" not in err


def test_cli_missing_keystore_and_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MIA_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("MIA_VAULT_PASSPHRASE", "pp")
    argv = ["bid", "reveal", "--rpc-url", CLOSED_RPC, "--contract", "0x" + "11" * 20, "--auction", "1",
            "--keystore", str(tmp_path / "nope.json"), "--vault", os.devnull]  # fmt: skip
    _assert_clean_failure(*_run_cli(capsys, argv))
