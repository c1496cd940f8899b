"""A tiny GPT-NeoX (Pythia's architecture) and a generated arithmetic task, with nothing downloaded.

Used by the lm-gradient tests, the bench and ``mia demo --task text``: a character-level tokenizer,
a model built from a config with a seeded random init, a templated question-answering task with
known answers (``"Q: 7+5=? A:"`` -> ``" 12"``) plus the bad data a provider might sell (wrong
answers, shuffled responses, off-task text), and a short deterministic training loop on the
response-token loss.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .lm_gradient import collate, encode_records, response_loss
from .text_records import TextRecord

__all__ = [
    "RecordKind",
    "arithmetic_records",
    "build_tiny_lm",
    "char_tokenizer",
    "disjoint_clean_records",
    "mean_response_loss",
    "train_response_loss",
]

RecordKind = Literal["clean", "wrong", "shuffled", "offtask"]

_CHARS = list("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ +-*=?.,:;!'\"()<>|/\n")
_SENTENCE = (
    "the cat sat on a warm mat while rain fell over quiet hills and old ships sailed past green "
    "fields of wheat under a pale morning sky near the river bank"
)
_WORDS = tuple(_SENTENCE.split(" "))


def char_tokenizer() -> Any:
    """A character-level fast tokenizer (``<pad>``, ``<eos>``, ``<unk>`` + printable ASCII subset)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<unk>", *_CHARS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def arithmetic_records(n: int, seed: int, kind: RecordKind = "clean", *, max_operand: int = 9) -> list[TextRecord]:
    """``n`` addition questions; ``kind`` says what a provider sells.

    ``clean``: correct sums. ``wrong``: the sum plus a non-zero offset. ``shuffled``: correct
    answers, but to other questions of the set. ``offtask``: word salad in both prompt and response.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, max_operand + 1, n)
    b = rng.integers(0, max_operand + 1, n)
    if kind == "offtask":
        return [
            TextRecord(" ".join(rng.choice(_WORDS, 4)) + "? ", " ".join(rng.choice(_WORDS, int(rng.integers(1, 3)))))
            for _ in range(n)
        ]
    ans = a + b
    if kind == "wrong":
        ans = ans + rng.choice([-4, -3, -2, -1, 1, 2, 3, 4], n)
        ans = np.abs(ans)
    elif kind == "shuffled":
        perm = rng.permutation(n)
        while n > 1 and np.any(ans[perm] == ans):  # every answer lands on a question it does not answer
            perm = rng.permutation(n)
        ans = ans[perm]
    elif kind != "clean":
        raise ValueError(f"unknown record kind {kind!r}")
    return [TextRecord(f"Q: {x}+{y}=? A:", f" {z}") for x, y, z in zip(a, b, ans, strict=True)]


def disjoint_clean_records(sizes: Sequence[int], seed: int, *, max_operand: int = 9) -> list[list[TextRecord]]:
    """Clean record sets with no question in common (so no set holds a copy of another's record)."""
    grid = [(a, b) for a in range(max_operand + 1) for b in range(max_operand + 1)]
    if sum(sizes) > len(grid):
        raise ValueError(f"only {len(grid)} distinct questions for {sum(sizes)} records")
    order = np.random.default_rng(seed).permutation(len(grid))
    out, pos = [], 0
    for n in sizes:
        out.append([TextRecord(f"Q: {a}+{b}=? A:", f" {a + b}") for a, b in (grid[i] for i in order[pos : pos + n])])
        pos += n
    return out


def _tiny_config(vocab_size: int, hidden: int, layers: int) -> Any:
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=4 * hidden,
        max_position_embeddings=128,
        rope_parameters={"partial_rotary_factor": 0.25},
        use_parallel_residual=True,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )


def train_response_loss(
    model: Any,
    tokenizer: Any,
    records: Sequence[TextRecord],
    *,
    steps: int,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    optimizer: Literal["adamw", "sgd"] = "adamw",
    max_length: int = 64,
) -> Any:
    """Train ``model`` in place on the response-token loss; deterministic for a given seed.

    ``sgd`` with ``batch_size >= len(records)`` is full-batch gradient descent on the *sum* of the
    records' losses divided by ``batch_size`` (so removing records removes their gradient, which is
    what the retraining check compares against).
    """
    enc = encode_records(tokenizer, records, max_length)
    pad = tokenizer.pad_token_id or 0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0) if optimizer == "adamw" else torch.optim.SGD(params, lr=lr)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        idx = rng.permutation(len(enc))[:batch_size] if batch_size < len(enc) else np.arange(len(enc))
        ids, lab = collate([enc[i] for i in idx], pad)
        loss = response_loss(model(input_ids=ids, use_cache=False).logits, lab).sum() / batch_size
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


@torch.no_grad()
def mean_response_loss(model: Any, tokenizer: Any, records: Sequence[TextRecord], max_length: int = 64) -> float:
    """Mean response-token loss over ``records`` (the buyer's validation loss)."""
    enc = encode_records(tokenizer, records, max_length)
    ids, lab = collate(enc, tokenizer.pad_token_id or 0)
    return float(response_loss(model(input_ids=ids, use_cache=False).logits, lab).mean())


def build_tiny_lm(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    hidden: int = 32,
    layers: int = 2,
    warmup_records: int = 400,
    steps: int = 150,
    lr: float = 1e-2,
) -> Path:
    """Write a briefly trained tiny GPT-NeoX and its tokenizer to ``out_dir`` (safetensors); returns it.

    The warm-up (AdamW on ``warmup_records`` clean questions) stands in for the buyer's base model:
    it has seen the task, so the gradients of good and bad records point different ways.
    """
    from transformers import GPTNeoXForCausalLM

    tok = char_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPTNeoXForCausalLM(_tiny_config(len(tok), hidden, layers))
        model.config._attn_implementation = "eager"
        train_response_loss(
            model, tok, arithmetic_records(warmup_records, seed + 10_000), steps=steps, lr=lr, seed=seed
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out
