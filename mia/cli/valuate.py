"""`mia valuate`: value providers' files against a validation set, print and write the transcript;
`mia valuate --verify FILE` recomputes a transcript and reports every disagreement."""

from __future__ import annotations

import argparse
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine (torch) is imported when a command runs, not when the parser is built
    from rich.console import Console

    from mia.valuation.data import Dataset, ProviderData
    from mia.valuation.lm_gradient import LMGradientFeaturizer


# value_providers arguments that have their own flag; `--option` sets estimator options only.
_FLAGGED = {"k": "--k", "score": "--score", "device": "--device", "seed": "--seed", "progress": None}


def parse_option(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` for `--option`: VALUE is read as JSON when it parses (``500``, ``1e-3``, ``true``,
    ``null``), else kept as text; the estimator then checks the name, type and range."""
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. max_permutations=500), got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name, value


def estimator_options(pairs: list[tuple[str, Any]] | None) -> dict[str, Any]:
    """The `--option` pairs as keyword arguments; a name given twice or one that has its own flag is refused."""
    from mia.protocol.errors import MiaError

    options: dict[str, Any] = {}
    for name, value in pairs or ():
        if name in _FLAGGED:
            flag = _FLAGGED[name]
            raise MiaError(f"--option {name}: " + (f"set it with {flag}" if flag else "not an estimator option"))
        if name in options:
            raise MiaError(f"--option {name} given twice")
        options[name] = value
    return options


def _split_arrays(spec: str) -> tuple[str, str | None]:
    feats, _, labels = spec.partition(":")
    return feats, labels or None


def load_lm_inputs(
    args: argparse.Namespace, recorded: dict[str, Any] | None = None
) -> tuple[list[ProviderData], Dataset, LMGradientFeaturizer, dict[str, Any]]:
    """Text providers and validation for ``lm-gradient``: loaded, then featurized by the model.

    With ``recorded`` (a transcript's featurizer section) the featurizer is rebuilt from it and the
    model directory must have the recorded content hash. Returns the transcript's text-hash section too.
    """
    from mia.valuation.lm_gradient import (
        LMGradientFeaturizer,
        featurize_text_inputs,
        featurizer_from_params,
        text_transcript_extra,
    )
    from mia.valuation.loaders import LoaderError
    from mia.valuation.text_records import load_text_provider, load_text_records

    if not args.lm_model:
        raise LoaderError("lm-gradient", None, "--lm-model DIR is required")
    if not args.validation:
        raise LoaderError("validation", None, "--validation is required")
    val = load_text_records(args.validation, "validation")
    text_providers = []
    for spec in args.provider:
        pid, sep, path = spec.partition("=")
        if not sep or not pid or not path:
            raise LoaderError("provider", None, f"expected ID=PATH, got {spec!r}")
        text_providers.append(load_text_provider(path, pid))
    if not text_providers:
        raise LoaderError("provider", None, "at least one --provider ID=PATH is required")
    if recorded is not None:
        featurizer = featurizer_from_params(recorded, args.lm_model, device=args.device)
    else:
        featurizer = LMGradientFeaturizer(
            args.lm_model, target=args.lm_target, proj_dim=args.proj_dim, seed=args.seed, device=args.device
        )
    providers, validation = featurize_text_inputs(text_providers, val, featurizer, progress=True)
    return providers, validation, featurizer, text_transcript_extra(text_providers, val)


def load_inputs(args: argparse.Namespace) -> tuple[list[ProviderData], Dataset]:
    from mia.valuation.featurizers import HashingNGramFeaturizer
    from mia.valuation.loaders import (
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

    from mia.protocol.errors import MiaError
    from mia.valuation.api import value_providers
    from mia.valuation.featurizers import HashingNGramFeaturizer
    from mia.valuation.options import EstimatorOptionError
    from mia.valuation.transcript import build_transcript, verify_transcript, write_transcript

    console = console or Console(width=None if Console().is_terminal else 160)
    if args.verify:
        problems: list[str] = []
        if args.validation and getattr(args, "lm_model", None):
            from mia.valuation.transcript import load_transcript

            recorded = load_transcript(args.verify)
            lm_providers, lm_val, _, text_hashes = load_lm_inputs(args, recorded.get("featurizer") or {})
            given: tuple[Any, Any] = (lm_providers, lm_val)
            for key, value in text_hashes.items():
                if recorded.get("extra", {}).get(key) != value:
                    problems.append(f"{key} of the given text differs from the transcript")
        else:
            given = load_inputs(args) if args.validation else (None, None)
        key_file = Path(f"{args.verify}.record-key")
        record_key = bytes.fromhex(key_file.read_text().strip()) if key_file.exists() else None
        res = verify_transcript(
            args.verify, providers=given[0], validation=given[1], device=args.device, record_key=record_key
        )
        res.problems.extend(problems)
        res.ok = res.ok and not problems
        if res.ok:
            diff = f"max record diff {res.max_record_diff:.1e}"
            console.print(f"[green]transcript verified[/green]: {res.transcript_hash} ({diff})")
            return 0
        console.print(f"[red]transcript does NOT verify[/red] ({len(res.problems)} problem(s)):")
        for p in res.problems:
            console.print(f"  - {p.replace('pass providers= and validation=', 'pass --validation and --provider')}")
        return 1

    featurizer_params, extra = None, None
    method_kwargs = estimator_options(getattr(args, "option", None))
    if args.method == "lm-gradient":
        providers, validation, lm_featurizer, extra = load_lm_inputs(args)
        featurizer_params = lm_featurizer.params()
        method_kwargs["score"] = args.score
    else:
        providers, validation = load_inputs(args)
        featurizer_params = HashingNGramFeaturizer().params() if args.text else None
    try:
        result = value_providers(
            providers, validation, method=args.method, k=args.k, device=args.device, seed=args.seed, progress=True,
            **method_kwargs,
        )  # fmt: skip
    except EstimatorOptionError as exc:  # e.g. --k 0: one line naming the option, not a traceback
        raise MiaError(f"--method {args.method}: {exc}") from None
    record_key = secrets.token_bytes(32)
    transcript = build_transcript(
        result, providers, validation, inputs="inline" if args.inline_inputs else "none",
        featurizer=featurizer_params, extra=extra, record_key=record_key,
    )  # fmt: skip
    digest = write_transcript(transcript, Path(args.out))
    key_path = Path(f"{args.out}.record-key")  # private: opens the per-record values to an auditor
    if transcript.get("record_commitment") is None:
        # provider-level methods have no per-record values, hence no commitment and no key; a stale key
        # from an earlier run at this path would make `--verify` look for a commitment that is not there
        key_path.unlink(missing_ok=True)
    else:
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
    key_note = f"record key: {key_path}, keep it private" if key_path.exists() else "no per-record values, no key"
    console.print(f"transcript {digest} written to {args.out} ({key_note})")
    return 0
