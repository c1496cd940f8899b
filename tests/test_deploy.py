"""Deployment targets, key loading and the CLI's error handling."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from mia.cli.commands import main
from mia.protocol.errors import MiaError
from mia.sdk.anvil import AnvilNode, anvil_available
from mia.sdk.deployer import deploy_mia
from mia.sdk.keys import KeyLoadError, load_env_key, load_keystore
from mia.sdk.networks import connect


def test_embedded_deploy_record(tmp_path):
    with connect("embedded") as chain:
        dep = deploy_mia(chain)
        assert chain.w3.eth.get_code(dep.address) != b""
        path = dep.save(tmp_path)
    rec = json.loads(path.read_text())
    assert rec["address"] == dep.address and rec["chain_id"] == dep.chain_id and len(rec["sources_hash"]) == 64


@pytest.mark.anvil
@pytest.mark.skipif(not anvil_available(), reason="anvil not installed")
def test_anvil_started_and_stopped():
    chain = connect("anvil")
    try:
        assert chain.chain_id == 31337
        dep = deploy_mia(chain)
        assert chain.w3.eth.get_code(dep.address) != b""
        t0 = chain.now()
        chain.advance(3600)
        assert chain.now() >= t0 + 3600
    finally:
        proc_url = chain.w3.provider.endpoint_uri
        chain.close()
    with pytest.raises(MiaError):
        from mia.sdk.chain import Chain

        Chain.rpc(proc_url)


@pytest.mark.anvil
@pytest.mark.skipif(not anvil_available(), reason="anvil not installed")
def test_rpc_deploy_with_keystore(tmp_path, monkeypatch):
    acct = Account.create()
    ks = tmp_path / "key.json"
    ks.write_text(json.dumps(Account.encrypt(acct.key, "pw", iterations=2)))
    with AnvilNode() as node:
        from mia.sdk.anvil import ANVIL_DEV_KEY
        from mia.sdk.chain import Chain

        dev = Chain.rpc(node.url, funder=Account.from_key(ANVIL_DEV_KEY))
        dev.fund(acct.address, 10**18)
        monkeypatch.setenv("MIA_KEYSTORE_PASSWORD", "pw")
        chain = connect("rpc", rpc_url=node.url, keystore=str(ks))
        dep = deploy_mia(chain, network="rpc")
        assert dep.deployer == acct.address


def test_keystore_wrong_password(tmp_path):
    ks = tmp_path / "key.json"
    ks.write_text(json.dumps(Account.encrypt(Account.create().key, "right", iterations=2)))
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_keystore(str(ks), "wrong")
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(KeyLoadError, match="not a JSON keystore"):
        load_keystore(str(tmp_path / "bad.json"), "x")
    with pytest.raises(KeyLoadError, match="cannot read"):
        load_keystore(str(tmp_path / "missing.json"), "x")


def test_env_key(monkeypatch):
    monkeypatch.delenv("MIA_TEST_KEY", raising=False)
    with pytest.raises(KeyLoadError, match="not set"):
        load_env_key("MIA_TEST_KEY")
    monkeypatch.setenv("MIA_TEST_KEY", "0x1234")
    with pytest.raises(KeyLoadError, match="valid 32-byte"):
        load_env_key("MIA_TEST_KEY")
    key = Account.create()
    monkeypatch.setenv("MIA_TEST_KEY", key.key.hex())
    assert load_env_key("MIA_TEST_KEY").address == key.address


def test_cli_reports_errors_without_traceback(capsys, monkeypatch):
    monkeypatch.delenv("MIA_PRIVATE_KEY", raising=False)
    assert main(["deploy", "--network", "rpc"]) == 2
    err = capsys.readouterr().err
    assert "--rpc-url is required" in err and "Traceback" not in err
    assert main(["audit", "--rpc-url", "http://127.0.0.1:9", "--contract", "0x" + "00" * 20, "--auction", "1"]) == 2
    assert "cannot reach a node" in capsys.readouterr().err


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == "mia 0.1.0 (contracts: solc 0.8.30)"


def test_cli_deploy_embedded(capsys):
    assert main(["deploy"]) == 0
    assert "MiaAuction deployed at 0x" in capsys.readouterr().out
