"""`mia valuate`: value providers' files against a validation set, print and write the transcript;
`mia valuate --verify FILE` recomputes a transcript and reports every disagreement."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine (torch) is imported when a command runs, not when the parser is built
    from rich.console import Console

    from offchain.valuation.data import Dataset, ProviderData


def _split_arrays(spec: str) -> tuple[str, str | None]:
    feats, _, labels = spec.partition(":")
    return feats, labels or None


def load_inputs(args: argparse.Namespace) -> tuple[list[ProviderData], Dataset]:
    from offchain.valuation.featurizers import HashingNGramFeaturizer
    from offchain.valuation.loaders import (
        LoaderError,
        load_provider_arrays,
        load_provider_jsonl,
        load_validation_arrays,
        load_validation_jsonl,
    )

    featurizer = HashingNGramFeaturizer() if args.text else None
    if not args.validation:
        raise LoaderError("validation", None, "--validation is required")
    if args.validation.endswith(".jsonl"):
        validation = load_validation_jsonl(args.validation, featurizer=featurizer)
    else:
        validation = load_validation_arrays(*_split_arrays(args.validation))
    dim = validation.features.shape[1]
    providers = []
    for spec in args.provider:
        pid, sep, path = spec.partition("=")
        if not sep or not pid or not path:
            raise LoaderError("provider", None, f"expected ID=PATH, got {spec!r}")
        if path.endswith(".jsonl"):
            providers.append(load_provider_jsonl(path, pid, featurizer=featurizer, expected_dim=dim))
        else:
            feats, labels = _split_arrays(path)
            providers.append(load_provider_arrays(feats, pid, labels_path=labels, expected_dim=dim))
    if not providers:
        raise LoaderError("provider", None, "at least one --provider ID=PATH is required")
    return providers, validation


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    """Entry point used by `mia valuate`; returns the exit code."""
    from rich.console import Console
    from rich.table import Table

    from offchain.valuation.api import value_providers
    from offchain.valuation.featurizers import HashingNGramFeaturizer
    from offchain.valuation.transcript import build_transcript, verify_transcript, write_transcript

    console = console or Console(width=None if Console().is_terminal else 160)
    if args.verify:
        given = load_inputs(args) if args.validation else (None, None)
        key_file = Path(f"{args.verify}.record-key")
        key = bytes.fromhex(key_file.read_text().strip()) if key_file.exists() else None
        res = verify_transcript(
            args.verify, providers=given[0], validation=given[1], device=args.device, record_key=key
        )
        if res.ok:
            diff = f"max record diff {res.max_record_diff:.1e}"
            console.print(f"[green]transcript verified[/green]: {res.transcript_hash} ({diff})")
            return 0
        console.print(f"[red]transcript does NOT verify[/red] ({len(res.problems)} problem(s)):")
        for p in res.problems:
            console.print(f"  - {p.replace('pass providers= and validation=', 'pass --validation and --provider')}")
        return 1

    providers, validation = load_inputs(args)
    result = value_providers(
        providers, validation, method=args.method, k=args.k, device=args.device, seed=args.seed, progress=True
    )
    record_key = secrets.token_bytes(32)
    transcript = build_transcript(
        result, providers, validation, inputs="inline" if args.inline_inputs else "none",
        featurizer=HashingNGramFeaturizer().params() if args.text else None, record_key=record_key,
    )  # fmt: skip
    digest = write_transcript(transcript, Path(args.out))
    key_path = Path(f"{args.out}.record-key")  # private: opens the per-record values to an auditor
    key_path.write_text(record_key.hex() + "\n")
    key_path.chmod(0o600)
    fp = result.to_fixed_point()
    table = Table(title=f"{args.method} on {args.device}: {len(providers)} providers")
    for col in ("provider", "records", "quality q", "marginal utility Δ", "q (wad)", "Δ (wad)", "reasons"):
        table.add_column(col, justify="left" if col in ("provider", "reasons") else "right")
    for pv, q, d in zip(result.providers, fp.q_wad, fp.delta_wad, strict=True):
        table.add_row(pv.provider_id, str(pv.n_records), f"{pv.quality:.4f}", f"{pv.marginal_utility:+.6f}", str(q),
                      str(d), "; ".join(pv.reasons))  # fmt: skip
    console.print(table)
    warning = result.convergence_warning()
    if warning is not None:
        console.print(f"[yellow]warning[/yellow]: {warning}")
    console.print(f"transcript {digest} written to {args.out} (record key: {key_path}, keep it private)")
    return 0
