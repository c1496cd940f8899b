"""`mia` command line: deploy, run a local node, run the demo, audit an auction."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import NoReturn

from rich.console import Console

from mia.cli.extras import extra_for_module, install_hint, require
from mia.protocol.constants import MAX_LIQUIDITY, MAX_SCORE_CELLS, MAX_SCORE_CHUNK
from mia.protocol.errors import MiaError


def _deploy(args: argparse.Namespace) -> int:
    if args.network == "embedded":
        require("mia deploy --network embedded", "embedded")
    from mia.sdk.deployer import deploy_mia
    from mia.sdk.networks import connect

    with connect(args.network, rpc_url=args.rpc_url, keystore=args.keystore, key_env=args.key_env) as chain:
        dep = deploy_mia(chain, network=args.network)
        path = dep.save() if args.network == "rpc" or args.save else None
    print(f"MiaAuction deployed at {dep.address} on chain {dep.chain_id} (block {dep.block})")
    if path:
        print(f"deployment record: {path}")
    elif args.network != "rpc":
        print(f"note: the {args.network} chain stops with this command; use `mia node` + `--network rpc` to keep it")
    return 0


def _node(args: argparse.Namespace) -> int:
    from mia.sdk.anvil import ANVIL_DEV_KEY, AnvilNode

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # `kill PID` (SIGTERM) and a closed terminal (SIGHUP) stop anvil the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    with AnvilNode(port=args.port, block_time=args.block_time or None) as node:
        mining = f"a block every {args.block_time} s" if args.block_time else "blocks on demand"
        print(
            f"anvil listening on {node.url} (chain id {node.chain_id}, {mining}); dev key {ANVIL_DEV_KEY}; "
            "Ctrl-C stops it"
        )
        try:
            while node.proc and node.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


def _demo(args: argparse.Namespace) -> int:
    text = getattr(args, "task", "numeric") == "text"
    require("mia demo", "oracle", *(["embedded"] if args.network == "embedded" else []), *(["lm"] if text else []))
    if text:
        from mia.demo.text import run_text_demo

        return 0 if run_text_demo(args.network) else 1
    from mia.demo.numeric import run_demo

    return 0 if run_demo(args.network) else 1


def _valuate(args: argparse.Namespace) -> int:
    require("mia valuate", "oracle", *(["lm"] if args.method == "lm-gradient" else []))
    from mia.cli.valuate import run
    from mia.valuation.lm_gradient import ModelMismatchError
    from mia.valuation.loaders import LoaderError
    from mia.valuation.transcript import TranscriptError

    try:
        return run(args)
    except (LoaderError, TranscriptError, ModelMismatchError) as exc:
        raise MiaError(str(exc)) from None


def _audit(args: argparse.Namespace) -> int:
    from mia.sdk.auditor import Auditor
    from mia.sdk.chain import Chain

    chain = Chain.rpc(args.rpc_url)
    auditor = Auditor(chain, args.contract, from_block=args.from_block, confirmations=args.confirmations)
    rep = auditor.audit(args.auction)
    console = Console()
    for c in rep.checks:
        console.print(f"  {'✓' if c.ok else '✗'} {c.name}" + (f" ({c.detail})" if c.detail else ""))
    for note in rep.notes:
        console.print(f"  i {note}")
    console.print(rep.verdict)
    return 0 if rep.ok else 1  # non-zero on a real mismatch only, not for an auction still running


def _amount(text: str) -> int:
    """Token amounts in whole units with up to 18 decimals ("0.05") → base units."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError("amounts cannot be negative")
    if value.adjusted() > 60:  # far above any uint256 amount; also keeps the scaling below cheap
        raise argparse.ArgumentTypeError(f"amount too large: {text!r}")
    base = int(value.scaleb(18))
    if base >= 2**256:
        raise argparse.ArgumentTypeError(f"amount too large for a uint256: {text!r}")
    return base


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _address(text: str) -> str:
    """A 20-byte hex address (any case; mixed case must carry a valid EIP-55 checksum)."""
    from eth_utils import is_address, to_checksum_address

    if not is_address(text):
        raise argparse.ArgumentTypeError(f"not an address: {text!r}")
    return to_checksum_address(text)


def _oracle(text: str):
    from mia.sdk.auction import OracleInfo

    try:
        address, key = text.split(":")
        raw = bytes.fromhex(key.removeprefix("0x"))
    except ValueError:
        raise argparse.ArgumentTypeError("oracle must be ADDRESS:X25519_PUBLIC_KEY_HEX") from None
    if len(raw) != 32:
        raise argparse.ArgumentTypeError("an X25519 public key is 32 bytes")
    return OracleInfo(_address(address), raw)


def _bytes32(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None
    if len(raw) != 32:
        raise argparse.ArgumentTypeError("expected 32 bytes of hex")
    return raw


def _chain_for(args: argparse.Namespace, *, signer: bool):
    from mia.sdk.chain import Chain
    from mia.sdk.networks import connect

    if signer:
        return connect("rpc", rpc_url=args.rpc_url, keystore=args.keystore, key_env=args.key_env)
    return Chain.rpc(args.rpc_url)


def _auction_create(args: argparse.Namespace) -> int:
    from mia.protocol.types import Mechanism
    from mia.sdk.buyer import Buyer, Schedule

    mechanism = {"qmia": Mechanism.QMIA, "mixed": Mechanism.MIXED_MIA, "mut": Mechanism.MUT,
                 "fairshare": Mechanism.FAIRSHARE}[args.mechanism]  # fmt: skip
    if mechanism == Mechanism.FAIRSHARE and not args.rho:
        raise MiaError("--rho is required for fairshare")
    if not 0 <= args.liquidity <= MAX_LIQUIDITY:
        raise MiaError("--liquidity must be between 0 and 1")
    allowlist_root = bytes(32)
    if args.allowlist:
        from mia.sdk.allowlist import load_allowlist

        allowlist_root = load_allowlist(args.allowlist).root
    chain = _chain_for(args, signer=True)
    buyer = Buyer(chain, args.contract, chain.funder)
    aid = buyer.create_auction(
        budget=args.budget, deposit=args.deposit, oracles=args.oracle, threshold=args.threshold,
        task_hash=args.task_hash, method_id=args.method_id, asset=args.asset,
        schedule=Schedule(args.commit_period, args.reveal_period, args.scoring_period),
        max_providers=args.max_providers, mechanism=mechanism, liquidity=args.liquidity, rho=args.rho,
        model_id=args.model_id, fault_tolerance=args.fault_tolerance, score_chunk=args.score_chunk,
        allowlist_root=allowlist_root,
    )  # fmt: skip
    print(f"auction {aid} created ({mechanism.name}); escrowed {buyer.auction(aid).cash_escrow} base units")
    return 0


def _auction_show(args: argparse.Namespace) -> int:
    from mia.sdk.auction import AuctionClient

    client = AuctionClient(_chain_for(args, signer=False), args.contract)
    info = client.auction(args.auction)
    print(f"auction {args.auction}: phase {client.phase(args.auction).name}")
    for k, v in vars(info).items():
        print(f"  {k}: {'0x' + v.hex() if isinstance(v, bytes) else v}")
    return 0


# -- oracle service and provider bids (data room) ---------------------------------------------------


def _oracle_serve(args: argparse.Namespace) -> int:
    require("mia oracle serve", "oracle")
    from mia.oracle.service import serve

    return serve(args)


def _oracle_keys(args: argparse.Namespace) -> int:
    from mia.oracle.keys import load_keys

    keys = load_keys(args.data_dir)
    print(f"x25519 {keys.x25519_public.hex()}\ned25519 {keys.ed25519_public.hex()}")
    return 0


def _oracle_urls(pairs: list[str] | None, committee: str | None) -> dict[str, str]:
    from eth_utils import is_address, to_checksum_address

    from mia.sdk.dataroom import load_committee

    urls = load_committee(committee) if committee else {}
    for pair in pairs or []:
        address, sep, url = pair.partition("=")
        if not sep or not is_address(address) or not url.startswith(("http://", "https://")):
            raise MiaError(f"--oracle-url must be ADDRESS=http(s)://HOST:PORT, got {pair!r}")
        urls[to_checksum_address(address)] = url.rstrip("/")
    return urls


def _bid_vault(args: argparse.Namespace):
    import os

    from mia.sdk.salts import SaltVault

    passphrase = os.environ.get(args.vault_passphrase_env)
    if not passphrase:
        raise MiaError(f"set {args.vault_passphrase_env} to the salt vault's passphrase")
    return SaltVault(args.vault, passphrase)


def _bid_commit(args: argparse.Namespace) -> int:
    from mia.sdk.dataroom import deliver_dataset, load_dataset
    from mia.sdk.provider import Provider

    records = load_dataset(args.dataset)
    urls = _oracle_urls(args.oracle_url, args.committee)
    vault = _bid_vault(args)
    chain = _chain_for(args, signer=True)
    proof = None
    if args.allowlist:
        from mia.sdk.allowlist import load_allowlist

        proof = load_allowlist(args.allowlist).proof(chain.funder.address)
    provider = Provider(chain, args.contract, chain.funder, vault)
    root, receipts = deliver_dataset(provider, args.auction, records, urls)
    for r in receipts:
        print(f"uploaded {r.size} encrypted bytes to oracle {r.oracle} (sha256 {r.sha256[:16]}…)")
    opening = provider.commit(args.auction, args.cost, root, proof=proof)
    print(f"committed to auction {args.auction}: {len(records)} records, root 0x{root.hex()}")
    print(f"bid opening saved to {args.vault}")
    print(f"commitment {opening.commitment}")
    return 0


def _bid_reveal(args: argparse.Namespace) -> int:
    from mia.sdk.provider import Provider

    chain = _chain_for(args, signer=True)
    Provider(chain, args.contract, chain.funder, _bid_vault(args)).reveal(args.auction)
    print(f"revealed the bid of {chain.funder.address} in auction {args.auction}")
    return 0


def _bid_withdraw(args: argparse.Namespace) -> int:
    from mia.sdk.provider import Provider

    chain = _chain_for(args, signer=True)
    client = Provider(chain, args.contract, chain.funder, vault=None)  # type: ignore[arg-type]  # refunds use no salt
    for auction_id in args.auction:
        if client.deposit_refundable(auction_id, chain.funder.address):
            client.refund_deposit(auction_id)
            print(f"deposit of auction {auction_id} refunded")
    if client.credit(chain.funder.address) == 0:
        raise MiaError(f"nothing to withdraw for {chain.funder.address}")
    print(f"withdrew {client.withdraw()} wei")
    return 0


def _add_oracle_and_bid(sub) -> None:
    o = sub.add_parser("oracle", help="run an oracle service, or show its data keys")
    o_sub = o.add_subparsers(dest="oracle_command", required=True)
    serve = o_sub.add_parser("serve", help="run one committee member: HTTP data room + chain watcher")
    from mia.oracle.options import add_arguments

    add_arguments(serve)
    serve.set_defaults(func=_oracle_serve)
    keys = o_sub.add_parser("keys", help="print (creating on first use) the X25519 and Ed25519 public keys")
    keys.add_argument("--data-dir", required=True)
    keys.set_defaults(func=_oracle_keys)

    b = sub.add_parser("bid", help="provider: upload encrypted data to the oracles and commit; reveal; withdraw")
    b_sub = b.add_subparsers(dest="bid_command", required=True)
    for name, func, text in (
        ("commit", _bid_commit, "encrypt + upload the dataset to every oracle, then commit a sealed bid"),
        ("reveal", _bid_reveal, "reveal the bid saved in the salt vault"),
        ("withdraw", _bid_withdraw, "withdraw the deposit and any payment"),
    ):
        c = b_sub.add_parser(name, help=text)
        c.add_argument("--rpc-url", required=True)
        c.add_argument("--contract", type=_address, required=True)
        c.add_argument("--keystore", help="provider's keystore v3 file (password: MIA_KEYSTORE_PASSWORD or prompt)")
        c.add_argument("--key-env", default="MIA_PRIVATE_KEY")
        c.set_defaults(func=func)
        if name == "withdraw":
            c.add_argument(
                "--auction", type=int, action="append", default=[],
                help="first reclaim the deposit of this ended auction (repeatable)",
            )  # fmt: skip
            continue
        c.add_argument("--auction", type=int, required=True)
        c.add_argument("--vault", default="mia-salts.vault", help="encrypted salt backup file")
        c.add_argument("--vault-passphrase-env", default="MIA_VAULT_PASSPHRASE")
        if name == "commit":
            c.add_argument("--dataset", required=True, help=".jsonl (features, label per line) or .npz")
            c.add_argument("--cost", type=_amount, required=True, help="your private cost in asset units")
            c.add_argument("--committee", help="JSON file of oracle addresses and URLs")
            c.add_argument("--oracle-url", action="append", help="ADDRESS=URL of an oracle (repeat)")
            c.add_argument("--allowlist", help="the auction's allowlist file (invited auctions): proves membership")


def _simulate(args: argparse.Namespace) -> int:
    """`mia simulate EXPERIMENT`: run a market-simulator experiment, write CSV + PNG + summary.json."""
    from pathlib import Path

    require("mia simulate", "sim")
    from mia.sim.experiments import ExperimentError, run_experiment

    try:
        summary = run_experiment(args.experiment, Path(args.out), size=args.size, seed=args.seed,
                                 dataset=args.dataset, model=args.model, progress=not args.quiet)  # fmt: skip
    except (ExperimentError, OSError) as exc:
        raise MiaError(str(exc)) from None
    print(f"simulate {args.experiment} ({summary['size']}, seed {summary['seed']}): results in {args.out}")
    return 0


# Estimators `mia valuate` offers (names registered in mia.valuation.estimators). Defined here, not in the
# engine, so building the parser does not import torch.
VALUATE_METHODS = ("knn_shapley", "knn_shapley_similarity", "mc_shapley", "banzhaf", "loo", "lm-gradient")


def _estimator_option(text: str) -> tuple[str, object]:
    from mia.cli.valuate import parse_option

    return parse_option(text)


def _add_valuate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--validation", help="validation set: .jsonl, or FEATURES.npy[:LABELS.npy]")
    p.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="ID=PATH",
        help="a provider's data: ID=file.jsonl or ID=FEATURES.npy[:LABELS.npy] (repeat, in commit order)",
    )
    p.add_argument("--method", choices=VALUATE_METHODS, default="knn_shapley")
    p.add_argument("--k", type=int, default=5, help="neighbours for KNN estimators")
    p.add_argument(
        "--option", action="append", type=_estimator_option, metavar="NAME=VALUE",
        help="an estimator option, e.g. max_permutations=500 or stderr_tol=null (repeatable; unknown, mistyped"
        " or out-of-range options are refused)",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text", action="store_true", help="JSONL records carry text: use the hashing n-gram featurizer")
    p.add_argument("--out", default="transcript.json", help="where to write the transcript")
    p.add_argument("--inline-inputs", action="store_true", help="embed the data in the transcript (self-contained)")
    p.add_argument("--verify", metavar="TRANSCRIPT", help="recompute a transcript instead of valuing")
    lm = p.add_argument_group("lm-gradient (prompt/response or chat JSONL, valued by a causal LM's gradients)")
    lm.add_argument(
        "--lm-model", metavar="DIR", help="local Hugging Face model directory (its content hash is recorded)"
    )
    lm.add_argument("--score", choices=("cosine", "dot"), default="cosine", help="LESS cosine or TracIn dot product")
    lm.add_argument(
        "--lm-target", choices=("lora", "layers"), default="lora", help="gradients of LoRA adapters or the last block"
    )
    lm.add_argument("--proj-dim", type=int, default=1024, help="random-projection dimension of the gradient features")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block), so every bad command line reads the same."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    """The installed package's version, and the pinned compiler its shipped contracts were built with."""
    from importlib.metadata import PackageNotFoundError, version

    from mia.protocol.artifacts import manifest

    try:
        ours = version("mia")
    except PackageNotFoundError:  # running from a source tree that was never installed
        ours = "unknown"
    return f"{ours} (contracts: solc {manifest()['solc']})"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mia", description="Verifiable, truthful auctions for LLM training data.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("deploy", help="deploy MiaAuction")
    d.add_argument("--network", choices=("embedded", "anvil", "rpc"), default="embedded")
    d.add_argument("--rpc-url", help="JSON-RPC URL (with --network rpc)")
    d.add_argument("--keystore", help="keystore v3 file of the deployer (password: MIA_KEYSTORE_PASSWORD or prompt)")
    d.add_argument("--key-env", default="MIA_PRIVATE_KEY", help="env var holding a hex key (default MIA_PRIVATE_KEY)")
    d.add_argument("--save", action="store_true", help="write deployments/<network>-<chainId>.json")
    d.set_defaults(func=_deploy)

    n = sub.add_parser("node", help="run a local anvil node on 127.0.0.1 until Ctrl-C")
    n.add_argument("--port", type=int, default=8545)
    n.add_argument(
        "--block-time",
        type=int,
        default=1,
        help="mine a block every N seconds even when idle, so deadlines pass in wall time (default 1; 0 = on demand)",
    )
    n.set_defaults(func=_node)

    m = sub.add_parser("demo", help="run a whole audited auction")
    m.add_argument("--network", choices=("embedded", "anvil"), default="embedded")
    m.add_argument(
        "--task",
        choices=("numeric", "text"),
        default="numeric",
        help="numeric: digits valued by KNN-Shapley; text: instruction records valued by lm-gradient",
    )
    m.set_defaults(func=_demo)

    v = sub.add_parser("valuate", help="value providers' data (or --verify a transcript)")
    _add_valuate_arguments(v)
    v.set_defaults(func=_valuate)

    auc = sub.add_parser("auction", help="create or inspect auctions on a deployed contract")
    auc_sub = auc.add_subparsers(dest="auction_command", required=True)
    c = auc_sub.add_parser("create", help="create and fund an auction (the buyer)")
    c.add_argument("--rpc-url", required=True)
    c.add_argument("--contract", type=_address, required=True)
    c.add_argument("--keystore", help="buyer's keystore v3 file (password: MIA_KEYSTORE_PASSWORD or prompt)")
    c.add_argument("--key-env", default="MIA_PRIVATE_KEY")
    c.add_argument("--mechanism", choices=("qmia", "mixed", "mut", "fairshare"), default="qmia")
    c.add_argument("--liquidity", type=_amount, default=MAX_LIQUIDITY, help="λ for mixed, in [0, 1] (default 1)")
    c.add_argument("--rho", type=_amount, default=0, help="fairshare price per unit of utility (asset units)")
    c.add_argument("--budget", type=_amount, required=True, help="budget in asset units, e.g. 4 or 0.5")
    c.add_argument("--deposit", type=_amount, required=True, help="provider deposit in asset units")
    c.add_argument("--asset", type=_address, default="0x" + "00" * 20, help="ERC-20 address; default ETH")
    c.add_argument("--oracle", type=_oracle, action="append", required=True, help="ADDRESS:X25519_KEY_HEX, repeat")
    c.add_argument("--threshold", type=int, required=True, help="quorum k: 2f+1 <= k <= n-f")
    c.add_argument(
        "--fault-tolerance",
        type=int,
        default=0,
        help="f: corrupted oracles tolerated; needs n >= 3f+1 oracles (default 0: trust every member)",
    )
    c.add_argument(
        "--score-chunk",
        type=int,
        default=0,
        help=f"revealed providers per scoring chunk (0 = min({MAX_SCORE_CHUNK}, {MAX_SCORE_CELLS} // n))",
    )
    c.add_argument("--task-hash", type=_bytes32, required=True)
    c.add_argument("--model-id", type=_bytes32, default=bytes(32))
    c.add_argument("--method-id", type=int, default=1)
    c.add_argument("--commit-period", type=int, default=3600, help="seconds")
    c.add_argument("--reveal-period", type=int, default=3600)
    c.add_argument("--scoring-period", type=int, default=3600)
    c.add_argument("--max-providers", type=int, default=100)
    c.add_argument("--allowlist", help="admit only these providers: a file with one address per line")
    c.set_defaults(func=_auction_create)
    s_ = auc_sub.add_parser("show", help="print an auction's parameters and phase")
    s_.add_argument("--rpc-url", required=True)
    s_.add_argument("--contract", type=_address, required=True)
    s_.add_argument("--auction", type=int, required=True)
    s_.set_defaults(func=_auction_show)

    a = sub.add_parser("audit", help="re-derive every payment of an auction from chain data")
    a.add_argument("--rpc-url", required=True)
    a.add_argument("--contract", type=_address, required=True)
    a.add_argument("--auction", type=int, required=True)
    a.add_argument("--from-block", type=_non_negative, default=0)
    a.add_argument(
        "--confirmations",
        type=_non_negative,
        default=None,
        help="blocks a log must be buried under before it is trusted (default: 12 on a node, 0 embedded)",
    )
    a.set_defaults(func=_audit)
    _add_oracle_and_bid(sub)

    sim = sub.add_parser("simulate", help="market simulator: single-round, strategic, repeated, or all")
    sim.add_argument("experiment", help="single-round | strategic | repeated | all")
    sim.add_argument("--out", default="simulation", help="folder for the CSV, PNG and summary.json files")
    sim.add_argument("--size", default="small", help="small (seconds) or full (the documented numbers)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--dataset", help="scikit-learn bundled set: digits, breast_cancer, wine, iris")
    sim.add_argument("--model", default="logreg", help="model trained on what was bought: logreg or knn")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MiaError as exc:
        _say_error(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:  # a file or value the user gave that a lower layer refused
        _say_error(f"{type(exc).__name__}: {exc}")
        return 2
    except Exception as exc:  # a bug: still one line for the user; MIA_DEBUG=1 shows the traceback
        extra = extra_for_module(exc.name) if isinstance(exc, ModuleNotFoundError) else None
        if extra is not None:  # an optional extra's module, reached on a path no `require` guards
            _say_error(install_hint(_command_name(args), [extra]))
            return 2
        if os.environ.get("MIA_DEBUG"):
            raise
        _say_error(f"unexpected {type(exc).__name__}: {exc} (set MIA_DEBUG=1 for the traceback)")
        return 1


def _command_name(args: argparse.Namespace) -> str:
    """The command as the user typed it, without options (e.g. mia oracle serve), for error lines."""
    words = [args.command, getattr(args, f"{args.command}_command", None)]
    return " ".join(["mia", *(w for w in words if w)])


def _say_error(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    from rich.markup import escape

    line = " ".join(message.split()) or "failed"
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {escape(line)}")


if __name__ == "__main__":
    sys.exit(main())
