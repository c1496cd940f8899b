"""JSON from strangers: bounded size and nesting depth, checked before the parser sees the bytes.

CPython's `json` recurses in C once per nesting level. `eth_account` (through `py_ecc`) raises the
interpreter's recursion limit to 100,000, so a ~200 kB line of `[[[[...` overflows a worker thread's
C stack and kills the process (SIGSEGV) before any `RecursionError`. Every parse of untrusted bytes
(data-room uploads, peers' report replies) therefore goes through `loads_bounded` / `loads_lines`,
which measure the depth with a linear scan outside JSON strings and refuse anything deeper than a
small bound; `restore_recursion_limit` also puts the limit back where C stacks are safe.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

try:  # ~4x faster parsing; its own nesting limit (1,024) does not depend on the recursion limit
    import orjson
except ImportError:  # pragma: no cover - the pinned environment has it
    orjson = None  # type: ignore[assignment]

# Deep enough for any document the protocol exchanges (reports, records: depth <= 3).
MAX_DEPTH = 32
# Default recursion limit of a service process: CPython's own default, far below what C stacks hold.
SAFE_RECURSION_LIMIT = 1000

_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')  # JSON strings never span lines; alternatives are disjoint
# orjson reads integers beyond 64 bits as floats (json: exact ints); documents with such digit runs use json
LONG_DIGITS = 19
_DIGITS_TO_ONES = bytes(49 if 48 <= b <= 57 else 48 for b in range(256))  # digit -> "1", else "0"
_DIGIT_MASK = b"1" * LONG_DIGITS
_DELTA = np.zeros(256, dtype=np.int8)
_DELTA[[ord("["), ord("{")]] = 1
_DELTA[[ord("]"), ord("}")]] = -1


class JSONLimitError(ValueError):
    """A JSON document that is malformed, too large or too deeply nested; `str()` says which."""


def restore_recursion_limit(limit: int = SAFE_RECURSION_LIMIT) -> None:
    """Undo `py_ecc`'s recursion limit of 100,000 (call after importing eth_account / web3)."""
    if sys.getrecursionlimit() > limit:
        sys.setrecursionlimit(limit)


def max_depth(data: bytes) -> int:
    """Largest bracket nesting outside strings (over all lines; a line left unbalanced only adds to it).

    Lines are parsed in order and any line with more closing than opening brackets is invalid JSON,
    so a negative running balance can never hide a deep line from a parse that reaches it.
    """
    if not data:
        return 0
    stripped = _STRING.sub(b'""', data)
    deltas = _DELTA[np.frombuffer(stripped, dtype=np.uint8)]
    brackets = deltas[deltas != 0]  # only bracket positions change the running depth
    return int(np.cumsum(brackets, dtype=np.int64).max(initial=0))


def _has_long_digit_run(data: bytes) -> bool:
    """Whether `LONG_DIGITS` ASCII digits occur in a row (one translate and one memmem, no index arrays)."""
    return _DIGIT_MASK in data.translate(_DIGITS_TO_ONES)


def _check(data: bytes, max_bytes: int | None, depth: int) -> None:
    if max_bytes is not None and len(data) > max_bytes:
        raise JSONLimitError(f"document of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    d = max_depth(data)
    if d > depth:
        raise JSONLimitError(f"nesting depth {d} exceeds the limit of {depth}")


def _loads(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONLimitError(f"invalid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer longer than sys.get_int_max_str_digits()
        raise JSONLimitError(f"invalid JSON: {str(exc).split(';')[0]}") from None


def loads_bounded(data: bytes | str, *, max_bytes: int | None = None, depth: int = MAX_DEPTH) -> Any:
    """`json.loads` that refuses oversized or over-deep input with `JSONLimitError` instead of crashing."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    _check(raw, max_bytes, depth)
    return _loads(raw)


def loads_lines(data: bytes, *, depth: int = MAX_DEPTH) -> list[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a UTF-8 JSONL document; raises `JSONLimitError`."""
    return list(iter_lines(data, depth=depth))


def iter_lines(data: bytes, *, depth: int = MAX_DEPTH) -> Iterator[tuple[int, Any]]:
    """`loads_lines` one line at a time, so a caller can drop parsed values as it goes (bounded memory).

    The depth of the whole document is measured once (one linear pass) before anything is parsed;
    lines are then parsed in order and an error names its line.
    """
    d = max_depth(data)
    if d > depth:
        for lineno, line in enumerate(_split(data), start=1):  # find the offending line (refusal path)
            if max_depth(line) > depth:
                raise JSONLimitError(f"line {lineno}: nesting depth exceeds the limit of {depth}")
        raise JSONLimitError(f"nesting depth {d} exceeds the limit of {depth}")
    fast = orjson is not None and not _has_long_digit_run(data)
    for lineno, line in enumerate(_split(data), start=1):
        if not line.strip():
            continue
        try:
            value = _loads_fast(line) if fast else _loads(line)
        except JSONLimitError as exc:
            raise JSONLimitError(f"line {lineno}: {exc}") from None
        yield lineno, value


def _split(data: bytes) -> Iterator[bytes]:
    """The lines of `data` without building a list of them."""
    pos, n = 0, len(data)
    while pos <= n:
        end = data.find(b"\n", pos)
        if end == -1:
            end = n
        yield data[pos:end]
        pos = end + 1


def _loads_fast(line: bytes) -> Any:
    """orjson for one line; anything it refuses is retried with json for the same outcome and message.

    (orjson is stricter: NaN/Infinity literals and lone surrogates; json's verdict is the reference.)
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _loads(line)
