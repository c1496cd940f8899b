"""Instruction-tuning records (prompt/response or chat ``messages`` JSONL) for LM-based valuation.

Two line formats, the ones instruction data ships in::

    {"prompt": "Q: 2+3=? A:", "response": " 5"}
    {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "2+3?"},
                  {"role": "assistant", "content": "5"}]}

A chat record's *response* is its last message, which must come from the assistant; everything
before it is rendered into the prompt with :func:`render_chat_prompt`. The loss (and so every
gradient feature) covers response tokens only. Every schema problem is a
:class:`~mia.valuation.loaders.LoaderError` naming the owner, the file and the line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .data import ProviderData
from .loaders import LoaderError, PathLike, read_jsonl_records

__all__ = [
    "CHAT_ROLES",
    "TextRecord",
    "hash_text_records",
    "load_text_provider",
    "load_text_records",
    "parse_text_record",
    "render_chat_prompt",
]

CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class TextRecord:
    """One training example: the model is trained to produce ``response`` after ``prompt``."""

    prompt: str
    response: str

    def to_dict(self) -> dict[str, str]:
        return {"prompt": self.prompt, "response": self.response}


def render_chat_prompt(messages: Sequence[dict[str, str]]) -> str:
    """The prompt text for chat history ``messages`` (the assistant's answer follows it).

    A fixed, documented template (not the tokenizer's own chat template) so that every oracle and
    auditor tokenises the same string: ``<|role|>\\ncontent\\n`` per message, then ``<|assistant|>\\n``.
    """
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"


def parse_text_record(obj: dict[str, Any], owner: str, path: PathLike | None, line: int) -> TextRecord:
    """One JSONL object as a :class:`TextRecord`; raises :class:`LoaderError` naming ``line``."""

    def fail(problem: str) -> LoaderError:
        return LoaderError(owner, path, f"line {line}: {problem}")

    if "messages" in obj:
        if "prompt" in obj or "response" in obj:
            raise fail("give either 'messages' or 'prompt'/'response', not both")
        msgs = obj["messages"]
        if not isinstance(msgs, list) or len(msgs) < 2:
            raise fail("'messages' must be a list of at least two messages")
        for j, m in enumerate(msgs):
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                raise fail(f"message {j} must be an object with a string 'content'")
            if m.get("role") not in CHAT_ROLES:
                raise fail(f"message {j} has role {m.get('role')!r}; expected one of {', '.join(CHAT_ROLES)}")
        if msgs[-1]["role"] != "assistant":
            raise fail("the last message must be the assistant's (it is the response the loss is taken on)")
        if not msgs[-1]["content"]:
            raise fail("the assistant's last message is empty")
        return TextRecord(render_chat_prompt(msgs[:-1]), msgs[-1]["content"])
    for key in ("prompt", "response"):
        if key not in obj:
            raise fail(f"missing field {key!r} (or give 'messages')")
        if not isinstance(obj[key], str):
            raise fail(f"{key!r} must be a string, got {type(obj[key]).__name__}")
    if not obj["response"]:
        raise fail("'response' is empty (the loss is taken on response tokens only)")
    return TextRecord(obj["prompt"], obj["response"])


def load_text_records(path: PathLike, owner: str = "validation") -> list[TextRecord]:
    """All records of a prompt/response or chat JSONL file (raises :class:`LoaderError`)."""
    return [parse_text_record(r, owner, path, r["__line__"]) for r in read_jsonl_records(path, owner)]


def load_text_provider(path: PathLike, provider_id: str, *, strict: bool = False) -> ProviderData:
    """A provider's text submission; ``records`` holds its :class:`TextRecord` list.

    ``strict=False`` (the oracle's mode) returns a ``ProviderData`` carrying the error, which then
    scores ``q = 0`` with that reason instead of stopping the round.
    """
    try:
        return ProviderData(provider_id, records=load_text_records(path, f"provider {provider_id}"))
    except LoaderError as exc:
        if strict:
            raise
        return ProviderData(provider_id, error=str(exc))


def hash_text_records(records: Sequence[TextRecord]) -> str:
    """SHA-256 over the canonical JSON of the records, in order (what the transcript commits to)."""
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()
