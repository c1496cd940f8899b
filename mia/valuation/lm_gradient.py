"""Value instruction data by what it does to the buyer's language model: LESS / TracIn gradient features.

For every record the featurizer takes the gradient of the record's response-token loss (mean
cross-entropy over the response tokens only) with respect to a small set of parameters -- LoRA
adapters (``target="lora"``, via peft, as in LESS) or chosen layers of the model itself
(``target="layers"``) -- per record with ``torch.func`` (``vmap(grad(...))``), and projects it to
``proj_dim`` numbers with a seeded Rademacher matrix that is generated on the CPU in fixed chunks,
so every oracle and auditor uses the same matrix on any device. The buyer's validation records get
the same treatment. The ``lm-gradient`` estimator then scores each record against the validation
gradients: ``score="cosine"`` (LESS: mean cosine similarity to the validation gradients) or
``score="dot"`` (TracIn with one checkpoint and unit step: dot product with the mean validation
gradient). A positive value means a gradient step on the record lowers the validation loss.

The model is read from a local Hugging Face directory; :func:`model_content_hash` (SHA-256 over
every file's path and bytes) goes into the featurizer's ``params()``, hence into the transcript and
the auction's task hash, so every party provably uses the same weights and tokenizer.

Heavy imports (transformers, peft) happen when a featurizer is built, never at import time.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from .api import deterministic_mode
from .data import Dataset, ProviderData
from .estimators import EstimatorOutput, ValuationTask, group_sum, register_estimator
from .options import CheckedOptions
from .text_records import TextRecord, hash_text_records

__all__ = [
    "FEATURIZER_KIND",
    "LMGradientEstimator",
    "LMGradientFeaturizer",
    "ModelMismatchError",
    "RademacherProjector",
    "aggregate_provider_values",
    "collate",
    "encode_records",
    "featurize_text_inputs",
    "featurizer_from_params",
    "model_content_hash",
    "text_transcript_extra",
]

FEATURIZER_KIND = "lm-gradient"
PROJECTION = "rademacher-cpu-chunked/1"
_IGNORE = -100


class ModelMismatchError(ValueError):
    """The model directory given is not the one a transcript or task committed to."""


def model_content_hash(model_dir: str | os.PathLike[str]) -> str:
    """SHA-256 over every regular file under ``model_dir`` (relative POSIX path and bytes, sorted).

    Hidden files and folders (``.cache``, ``.git``) are skipped; weights, config and tokenizer
    files all count, so a changed tokenizer changes the hash as much as changed weights.
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelMismatchError(f"model directory {model_dir} does not exist")
    h = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise ModelMismatchError(f"model directory {model_dir} is empty")
    for p in files:
        fh = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(partial(f.read, 1 << 20), b""):
                fh.update(block)
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + fh.digest())
    return h.hexdigest()


def encode_records(tokenizer: Any, records: Sequence[TextRecord], max_length: int) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels per record; labels are ``-100`` on prompt tokens (loss on the response only).

    The response gets the tokenizer's EOS appended (the model must learn to stop). Over-long records
    lose prompt tokens from the left first, then response tokens from the right.
    """
    eos = tokenizer.eos_token_id
    out = []
    for r in records:
        p = list(tokenizer(r.prompt, add_special_tokens=False)["input_ids"])
        a = list(tokenizer(r.response, add_special_tokens=False)["input_ids"])
        if eos is not None:
            a.append(eos)
        if not p:  # the first response token needs a position that predicts it
            p = [eos if eos is not None else (tokenizer.pad_token_id or 0)]
        a = a[: max_length - 1]
        p = p[-(max_length - len(a)) :]
        out.append((p + a, [_IGNORE] * len(p) + a))
    return out


def collate(batch: Sequence[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``labels``. With right padding a causal model's real positions
    never see the pads, so no attention mask is needed (and none enters ``vmap``)."""
    n = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    lab = torch.full((len(batch), n), _IGNORE, dtype=torch.long)
    for i, (a, b) in enumerate(batch):
        ids[i, : len(a)] = torch.tensor(a)
        lab[i, : len(b)] = torch.tensor(b)
    return ids, lab


def response_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over response positions, per row: ``(B, T, V), (B, T) -> (B,)``."""
    lg = logits[:, :-1].float()
    t = labels[:, 1:]
    mask = (t != _IGNORE).to(lg.dtype)
    ce = torch.nn.functional.cross_entropy(lg.transpose(1, 2), t.clamp(min=0), reduction="none")
    return (ce * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def _chunk_seed(seed: int, chunk: int) -> int:
    d = hashlib.sha256(f"mia-rademacher/{seed}/{chunk}".encode()).digest()
    return int.from_bytes(d[:8], "big") & ((1 << 63) - 1)


class RademacherProjector:
    """``x -> x R / sqrt(k)`` with ``R`` in ``{-1, +1}^(n, k)``, drawn on the CPU in row chunks of
    ``chunk_rows``, each from its own generator seeded by ``(seed, chunk)``: the same matrix on every
    device and torch build with the same CPU generator. Chunks are cached on the target device while
    they fit ``cache_bytes`` and regenerated on each call otherwise (models far larger than memory)."""

    def __init__(
        self,
        n_in: int,
        k: int,
        seed: int,
        *,
        device: torch.device | str = "cpu",
        chunk_rows: int = 8192,
        cache_bytes: int = 1 << 29,
    ) -> None:
        self.n_in, self.k, self.seed, self.chunk_rows = n_in, k, seed, chunk_rows
        self.device = torch.device(device)
        self._cache: dict[int, torch.Tensor] | None = {} if n_in * k * 4 <= cache_bytes else None

    def _chunk(self, c: int) -> torch.Tensor:
        if self._cache is not None and c in self._cache:
            return self._cache[c]
        rows = min(self.chunk_rows, self.n_in - c * self.chunk_rows)
        g = torch.Generator(device="cpu").manual_seed(_chunk_seed(self.seed, c))
        r = (torch.randint(0, 2, (rows, self.k), generator=g, dtype=torch.int8) * 2 - 1).to(self.device, torch.float32)
        if self._cache is not None:
            self._cache[c] = r
        return r

    def matrix(self) -> torch.Tensor:
        """The whole ``(n, k)`` sign matrix (tests and small models only)."""
        return torch.cat([self._chunk(c) for c in range(math.ceil(self.n_in / self.chunk_rows))])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``(B, n)`` float rows to ``(B, k)`` float64.

        Row by row (vector-matrix products): a matrix-matrix product's blocking, hence its rounding,
        depends on ``B``, and a record's features must not depend on what it was batched with.
        """
        out = torch.zeros(x.shape[0], self.k, dtype=torch.float64, device=x.device)
        for c in range(math.ceil(self.n_in / self.chunk_rows)):
            sl = x[:, c * self.chunk_rows : (c + 1) * self.chunk_rows].to(torch.float32)
            r = self._chunk(c)
            out += torch.stack([row @ r for row in sl]).to(torch.float64)
        return out / math.sqrt(self.k)


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LMGradientFeaturizer:
    """Per-record projected gradients of the response loss of a local Hugging Face causal LM.

    Args:
        model_dir: a ``save_pretrained`` directory (weights, config, tokenizer); nothing is downloaded.
        target: ``"lora"`` -- fresh LoRA adapters (rank ``lora_rank``, seeded init, ``B = 0`` so the
            model is unchanged) on ``lora_modules`` (default every linear layer but the head); the
            features are the adapters' ``B`` gradients, i.e. each weight gradient sketched through the
            seeded ``A`` (``A``'s own gradient is exactly zero while ``B = 0``). ``"layers"`` -- the
            gradient of every parameter whose name contains one of ``layers`` (default: the last block).
        proj_dim: projected dimension ``k``; inner products are preserved within ``~sqrt(2/k)|a||b|``.
        seed: seeds the projection and the LoRA init.
        batch_size: records per ``vmap`` call (fixed: it is part of the reproducible recipe).
        dtype: model dtype; ``float32`` on CPU, ``bfloat16``/``float32`` on GPU.
    """

    model_dir: str
    target: Literal["lora", "layers"] = "lora"
    layers: tuple[str, ...] = ()
    lora_rank: int = 4
    lora_modules: tuple[str, ...] = ()
    proj_dim: int = 1024
    seed: int = 0
    max_length: int = 256
    batch_size: int = 16
    device: str = "cpu"
    dtype: str = "float32"
    model_hash: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.target not in ("lora", "layers"):
            raise ValueError(f"target must be 'lora' or 'layers', got {self.target!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if self.proj_dim < 1 or self.batch_size < 1 or self.max_length < 2:
            raise ValueError("proj_dim and batch_size must be >= 1 and max_length >= 2")
        self.model_hash = model_content_hash(self.model_dir)
        self._load()

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dev = torch.device(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        base = AutoModelForCausalLM.from_pretrained(
            self.model_dir, local_files_only=True, dtype=_DTYPES[self.dtype], attn_implementation="eager"
        )
        model: torch.nn.Module = base  # the LoRA-wrapped model when target == "lora"
        if self.target == "lora":
            from peft import LoraConfig, get_peft_model

            cfg = LoraConfig(
                r=self.lora_rank,
                lora_alpha=self.lora_rank,
                lora_dropout=0.0,
                target_modules=list(self.lora_modules) if self.lora_modules else "all-linear",
                bias="none",
            )
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = get_peft_model(base, cfg)
            wanted = sorted(n for n, _ in model.named_parameters() if "lora_B" in n)
        else:
            names = [n for n, _ in model.named_parameters()]
            pats = self.layers or (_last_block_prefix(names),)
            wanted = sorted(n for n in names if any(p in n for p in pats))
        if not wanted:
            raise ValueError(f"no parameters selected for target={self.target!r} (layers={self.layers!r})")
        self.model = model.to(dev).eval()
        self.param_names = tuple(wanted)
        all_params = {n: p.detach() for n, p in self.model.named_parameters()}
        self._frozen = {**all_params, **{n: b.detach() for n, b in self.model.named_buffers()}}
        self._selected = {n: all_params[n] for n in wanted}
        self.n_params = int(sum(p.numel() for p in self._selected.values()))
        self.projector = RademacherProjector(self.n_params, self.proj_dim, self.seed, device=dev)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def params(self) -> dict[str, Any]:
        """Everything that determines the features (goes into transcripts and task hashes)."""
        return {
            "kind": FEATURIZER_KIND,
            "model_hash": self.model_hash,
            "target": self.target,
            "layers": list(self.layers),
            "lora_rank": self.lora_rank if self.target == "lora" else None,
            "lora_modules": list(self.lora_modules),
            "param_names": list(self.param_names),
            "n_params": self.n_params,
            "proj_dim": self.proj_dim,
            "projection": PROJECTION,
            "seed": self.seed,
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "loss": "mean cross-entropy over response tokens",
        }

    def _per_record_grads(self, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        from torch.func import functional_call, grad, vmap

        frozen = self._frozen

        def loss(sel: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            out = functional_call(self.model, {**frozen, **sel}, args=(x[None],), kwargs={"use_cache": False})
            return response_loss(out.logits, y[None])[0]

        g = vmap(grad(loss), in_dims=(None, 0, 0))(self._selected, ids, labels)
        return torch.cat([g[n].reshape(ids.shape[0], -1).to(torch.float32) for n in self.param_names], dim=1)

    def _batches(self, records: Sequence[TextRecord]) -> list[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """Batches of records with the same token length (no padding at all), in a fixed order.

        A record's features then depend on its own tokens only, never on what it was batched with,
        so a copied record has bit-identical features wherever it appears (exact duplicate check).
        """
        enc = encode_records(self.tokenizer, records, self.max_length)
        dev = torch.device(self.device)
        by_len: dict[int, list[int]] = {}
        for i, (tokens, _) in enumerate(enc):
            by_len.setdefault(len(tokens), []).append(i)
        out = []
        for n in sorted(by_len):
            rows = by_len[n]
            for s in range(0, len(rows), self.batch_size):
                idx = rows[s : s + self.batch_size]
                ids, lab = collate([enc[i] for i in idx], self.pad_id)
                out.append((np.asarray(idx), ids.to(dev), lab.to(dev)))
        return out

    def _compute(self, records: Sequence[TextRecord], project: bool, progress: bool) -> torch.Tensor:
        batches = self._batches(records)
        out: torch.Tensor | None = None
        with deterministic_mode():
            for idx, ids, lab in _bar(batches, progress):
                g = self._per_record_grads(ids, lab)
                rows = (self.projector(g) if project else g).cpu()
                if out is None:
                    out = torch.zeros(len(records), rows.shape[1], dtype=rows.dtype)
                out[torch.as_tensor(idx)] = rows
        assert out is not None
        return out

    def gradients(self, records: Sequence[TextRecord], *, progress: bool = False) -> torch.Tensor:
        """Exact, unprojected per-record gradients ``(N, n_params)`` (float32; tests and audits)."""
        return self._compute(records, False, progress)

    def transform(self, records: Sequence[TextRecord], *, progress: bool = False) -> np.ndarray:
        """Projected per-record gradients ``(N, proj_dim)`` as float64."""
        if not records:
            raise ValueError("no records to featurize")
        out = self._compute(records, True, progress).numpy().astype(np.float64)
        if not np.isfinite(out).all():
            raise ValueError("non-finite gradient features (model diverges on these records)")
        return out


def _bar(batches: list[Any], progress: bool) -> Iterator[Any]:
    if not progress:
        return iter(batches)
    from tqdm.auto import tqdm

    return iter(tqdm(batches, desc="lm-gradient features", unit="batch"))


def _last_block_prefix(names: Sequence[str]) -> str:
    """``"...layers.N."`` for the highest block index N (GPT-NeoX, Llama, GPT-2 style names)."""
    import re

    best: tuple[int, str] | None = None
    for n in names:
        m = re.search(r"^(.*\.(?:layers|h|blocks)\.)(\d+)\.", n)
        if m and (best is None or int(m.group(2)) > best[0]):
            best = (int(m.group(2)), f"{m.group(1)}{m.group(2)}.")
    if best is None:
        raise ValueError("cannot find the model's last block; pass layers=(...) explicitly")
    return best[1]


def featurizer_from_params(
    params: dict[str, Any], model_dir: str | os.PathLike[str], *, device: str = "cpu"
) -> LMGradientFeaturizer:
    """Rebuild the featurizer a transcript recorded; refuses a model whose content hash differs."""
    if params.get("kind") != FEATURIZER_KIND:
        raise ModelMismatchError(f"the transcript has no lm-gradient featurizer record (kind {params.get('kind')!r})")
    have = model_content_hash(model_dir)
    if have != params["model_hash"]:
        raise ModelMismatchError(
            f"model {model_dir} has content hash {have[:16]}..., "
            f"the transcript used {str(params['model_hash'])[:16]}..."
        )
    f = LMGradientFeaturizer(
        str(model_dir),
        target=params["target"],
        layers=tuple(params["layers"]),
        lora_rank=params["lora_rank"] or 4,
        lora_modules=tuple(params["lora_modules"]),
        proj_dim=int(params["proj_dim"]),
        seed=int(params["seed"]),
        max_length=int(params["max_length"]),
        batch_size=int(params["batch_size"]),
        device=device,
        dtype=params["dtype"],
    )
    if list(f.param_names) != list(params["param_names"]):
        raise ModelMismatchError("the rebuilt featurizer selects different parameters than the transcript")
    return f


def featurize_text_inputs(
    providers: Sequence[ProviderData],
    validation: Sequence[TextRecord],
    featurizer: LMGradientFeaturizer,
    *,
    progress: bool = False,
) -> tuple[list[ProviderData], Dataset]:
    """Gradient features for text providers (their ``records``) and the buyer's validation records.

    Each provider is featurized on its own, so its features never depend on other submissions. A
    provider whose records cannot be featurized keeps an ``error`` (it scores ``q = 0`` with that reason).
    """
    val = Dataset(featurizer.transform(list(validation), progress=progress), None)
    out = []
    for p in providers:
        if p.error is not None:
            out.append(p)
            continue
        try:
            feats = featurizer.transform(list(p.records or []), progress=progress)
        except ValueError as exc:
            out.append(ProviderData(p.provider_id, error=f"provider {p.provider_id}: {exc}"))
            continue
        out.append(ProviderData(p.provider_id, feats, None, records=p.records))
    return out, val


def text_transcript_extra(providers: Sequence[ProviderData], validation: Sequence[TextRecord]) -> dict[str, Any]:
    """Hashes of the raw text the features came from (the transcript's ``extra``)."""
    return {
        "validation_text_hash": hash_text_records(validation),
        "provider_text_hashes": {
            p.provider_id: None if p.error is not None else hash_text_records(p.records or []) for p in providers
        },
    }


def aggregate_provider_values(record_values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> np.ndarray:
    """Provider value from its records' values: the engine's per-provider sum for now.

    The one place to swap in the valuation-integrity rule (padding-proof aggregation) for this method.
    """
    return group_sum(record_values, groups, n_groups)


@dataclass
class LMGradientEstimator(CheckedOptions):
    """Score records against the buyer's validation gradients (features from :class:`LMGradientFeaturizer`).

    ``score="cosine"`` (LESS): mean over validation records of the cosine between the record's and the
    validation record's projected gradients. ``score="dot"`` (TracIn, one checkpoint, step 1): dot
    product with the mean validation gradient, i.e. the first-order drop in mean validation loss from
    one unit gradient step on the record.
    """

    score: Literal["cosine", "dot"] = "cosine"

    name: ClassVar[str] = "lm-gradient"
    record_level: ClassVar[bool] = True

    def params(self) -> dict[str, Any]:
        return {"score": self.score}

    def estimate(self, task: ValuationTask, *, seed: int = 0, progress: bool = False) -> EstimatorOutput:
        xt = task.x_train.to(torch.float64)
        xv = task.x_val.to(torch.float64)
        if self.score == "cosine":
            xt = xt / xt.norm(dim=1, keepdim=True).clamp(min=1e-300)
            xv = xv / xv.norm(dim=1, keepdim=True).clamp(min=1e-300)
        elif self.score != "dot":
            raise ValueError(f"lm-gradient score must be 'cosine' or 'dot', got {self.score!r}")
        v = xt @ xv.mean(dim=0)
        return EstimatorOutput(
            record_values=v.cpu().numpy().astype(np.float64),
            group_values=aggregate_provider_values(v, task.groups, task.n_groups),
            metadata={"score": self.score, "n_validation": int(xv.shape[0])},
        )


register_estimator(LMGradientEstimator)
