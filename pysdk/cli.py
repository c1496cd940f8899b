"""`mia` command line: compile, deploy, run a local node, run the demo, audit an auction."""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console

from pysdk.errors import MiaError


def _compile(args: argparse.Namespace) -> int:
    from pysdk.compiler import BUILD_DIR, compile_contracts

    arts = compile_contracts(BUILD_DIR)
    print(f"compiled {sum(1 for a in arts.values() if len(a['bytecode']) > 2)} contracts into {BUILD_DIR}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from deploy import connect, deploy_mia

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
    from deploy.anvil import ANVIL_DEV_KEY, AnvilNode

    with AnvilNode(port=args.port) as node:
        print(f"anvil listening on {node.url} (chain id {node.chain_id}); dev key {ANVIL_DEV_KEY}; Ctrl-C stops it")
        try:
            while node.proc and node.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pysdk.demo import run_demo

    return 0 if run_demo(args.network) else 1


def _valuate(args: argparse.Namespace) -> int:
    from offchain.valuation.cli import run
    from offchain.valuation.loaders import LoaderError

    try:
        return run(args)
    except LoaderError as exc:
        raise MiaError(str(exc)) from None


def _audit(args: argparse.Namespace) -> int:
    from pysdk.auditor import Auditor
    from pysdk.chain import Chain

    chain = Chain.rpc(args.rpc_url)
    rep = Auditor(chain, args.contract, from_block=args.from_block).audit(args.auction)
    console = Console()
    for c in rep.checks:
        console.print(f"  {'✓' if c.ok else '✗'} {c.name}" + (f" ({c.detail})" if c.detail else ""))
    console.print("AUDIT PASSED" if rep.ok else f"AUDIT FAILED: {len(rep.mismatches)} mismatch(es)")
    return 0 if rep.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mia", description="Verifiable, truthful auctions for LLM training data.")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("compile", help="compile contracts/ into build/contracts").set_defaults(func=_compile)

    d = sub.add_parser("deploy", help="deploy MiaAuction")
    d.add_argument("--network", choices=("embedded", "anvil", "rpc"), default="embedded")
    d.add_argument("--rpc-url", help="JSON-RPC URL (with --network rpc)")
    d.add_argument("--keystore", help="keystore v3 file of the deployer (password: MIA_KEYSTORE_PASSWORD or prompt)")
    d.add_argument("--key-env", default="MIA_PRIVATE_KEY", help="env var holding a hex key (default MIA_PRIVATE_KEY)")
    d.add_argument("--save", action="store_true", help="write deployments/<network>-<chainId>.json")
    d.set_defaults(func=_deploy)

    n = sub.add_parser("node", help="run a local anvil node on 127.0.0.1 until Ctrl-C")
    n.add_argument("--port", type=int, default=8545)
    n.set_defaults(func=_node)

    m = sub.add_parser("demo", help="run a whole audited auction")
    m.add_argument("--network", choices=("embedded", "anvil"), default="embedded")
    m.set_defaults(func=_demo)

    v = sub.add_parser("valuate", help="value providers' data (or --verify a transcript)")
    from offchain.valuation.cli import add_arguments

    add_arguments(v)
    v.set_defaults(func=_valuate)

    a = sub.add_parser("audit", help="re-derive every payment of an auction from chain data")
    a.add_argument("--rpc-url", required=True)
    a.add_argument("--contract", required=True)
    a.add_argument("--auction", type=int, required=True)
    a.add_argument("--from-block", type=int, default=0)
    a.set_defaults(func=_audit)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MiaError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
