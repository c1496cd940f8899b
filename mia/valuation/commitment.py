"""Commitment to per-record values: publish a Merkle root, open records to an auditor.

A transcript that published every record's value would tell a gamer, round after round,
which of its records (or of someone else's) are worth padding or copying. Transcripts
therefore carry per-provider values and one SHA-256 Merkle root over salted per-record
leaves. The oracle keeps a secret ``record_key``; the salts are ``HMAC(record_key,
provider/row)``, so the root reveals nothing (values of a KNN game are few distinct
rationals: unsalted leaves could be brute-forced), yet binds the oracle to every value.

An authorised auditor gets either openings of chosen records (:func:`open_records`:
values, salts and Merkle paths, checked against the published root with
:func:`verify_opening`) or the key itself, with which :func:`record_root` recomputed
from a re-run must reproduce the root exactly (values are bit-identical across runs and
devices, see :mod:`.knn_shapley`).

Leaf ``i`` (records in provider order, then row order):
``sha256(0x00 || salt || canonical_json({"c": credited, "i": row, "p": provider_id, "v": value}))``;
inner node: ``sha256(0x01 || left || right)``; an odd node is promoted unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .result import ValuationResult

__all__ = [
    "COMMITMENT_SCHEME",
    "OpeningError",
    "open_records",
    "record_leaves",
    "record_root",
    "verify_opening",
]

COMMITMENT_SCHEME = "mia-record-merkle/sha256-hmac-salt/1"


class OpeningError(ValueError):
    """An opening request that names records the result does not have."""


def _salt(key: bytes, provider_id: str, row: int) -> bytes:
    return hmac.new(key, f"{provider_id}/{row}".encode(), hashlib.sha256).digest()[:16]


def _leaf(salt: bytes, provider_id: str, row: int, value: float, credited: bool) -> bytes:
    body = json.dumps(
        {"c": bool(credited), "i": int(row), "p": provider_id, "v": float(value)},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )
    return hashlib.sha256(b"\x00" + salt + body.encode()).digest()


def _records(result: ValuationResult) -> list[tuple[str, int, float, bool]]:
    """Every committed record in order: (provider id, row, value, credited)."""
    out = []
    for p in result.providers:
        rv = p.record_values
        cr = p.credited
        if rv is None:  # a provider-level method: no record values to commit
            continue
        for i in range(p.n_records):
            out.append((p.provider_id, i, float(rv[i]), bool(cr[i]) if cr is not None else False))
    return out


def record_leaves(result: ValuationResult, key: bytes) -> list[bytes]:
    """Leaf hashes of every record with a value (record-level methods only)."""
    return [_leaf(_salt(key, pid, i), pid, i, v, c) for pid, i, v, c in _records(result)]


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [hashlib.sha256(b"\x01" + cur[j] + cur[j + 1]).digest() for j in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def record_root(result: ValuationResult, key: bytes) -> str:
    """Hex Merkle root over all record leaves (``sha256(b"")`` when there are none)."""
    leaves = record_leaves(result, key)
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    return _levels(leaves)[-1][0].hex()


def open_records(
    result: ValuationResult, key: bytes, provider_id: str, rows: Sequence[int] | None = None
) -> dict[str, Any]:
    """Opening of ``provider_id``'s records (all of them by default) for an auditor.

    Call only for a requester the operator has authorised: an opening reveals values.
    """
    recs = _records(result)
    leaves = [_leaf(_salt(key, pid, i), pid, i, v, c) for pid, i, v, c in recs]
    index = {(pid, i): n for n, (pid, i, _, _) in enumerate(recs)}
    mine = [n for n, r in enumerate(recs) if r[0] == provider_id]
    if not mine and all(p.provider_id != provider_id for p in result.providers):
        raise OpeningError(f"no provider {provider_id!r} in this result")
    found = [index.get((provider_id, int(r))) for r in rows] if rows is not None else mine
    wanted = [w for w in found if w is not None]
    if len(wanted) != len(found):
        raise OpeningError(f"provider {provider_id!r} has no record-level values for some requested rows")
    levels = _levels(leaves) if leaves else []
    opened = []
    for n in wanted:
        pid, i, v, c = recs[n]
        path, pos = [], n
        for level in levels[:-1]:
            sib = pos ^ 1
            if sib < len(level):
                path.append({"side": "left" if sib < pos else "right", "hash": level[sib].hex()})
            pos //= 2
        opened.append({"row": i, "value": v, "credited": c, "salt": _salt(key, pid, i).hex(), "leaf": n, "path": path})
    return {"scheme": COMMITMENT_SCHEME, "provider_id": provider_id, "records": opened}


def verify_opening(root_hex: str, opening: dict[str, Any]) -> list[str]:
    """Problems with ``opening`` against a published root (empty list: every record opens)."""
    problems = []
    if opening.get("scheme") != COMMITMENT_SCHEME:
        return [f"unknown commitment scheme {opening.get('scheme')!r}"]
    pid = str(opening.get("provider_id"))
    for rec in opening.get("records", []):
        try:
            h = _leaf(bytes.fromhex(rec["salt"]), pid, int(rec["row"]), float(rec["value"]), bool(rec["credited"]))
            for step in rec["path"]:
                sib = bytes.fromhex(step["hash"])
                h = hashlib.sha256(b"\x01" + (sib + h if step["side"] == "left" else h + sib)).digest()
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"record {rec.get('row') if isinstance(rec, dict) else rec!r}: malformed ({exc})")
            continue
        if h.hex() != root_hex:
            problems.append(f"provider {pid} row {rec['row']}: does not open to the published root")
    return problems


def values_array(opening: dict[str, Any]) -> np.ndarray:
    """The opened values as float64, in the opening's order."""
    return np.array([float(r["value"]) for r in opening.get("records", [])], dtype=np.float64)
