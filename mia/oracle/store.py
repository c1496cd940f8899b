"""Persisted oracle state (SQLite in the data directory): uploads received and each auction's progress.

Everything the oracle needs to resume after a crash lives here: which uploads it accepted or refused
and why, its signed report and transcript per auction, and whether the scores are on chain. SQLite
commits are atomic; ciphertexts are written to files by temp-file + fsync + rename.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    auction_id INTEGER NOT NULL, provider TEXT NOT NULL, status TEXT NOT NULL, sha256 TEXT,
    root TEXT, size INTEGER, reason TEXT, received REAL NOT NULL, PRIMARY KEY (auction_id, provider));
CREATE TABLE IF NOT EXISTS rounds (
    auction_id INTEGER PRIMARY KEY, state TEXT NOT NULL, report TEXT, signature TEXT, transcript TEXT,
    transcript_signature TEXT, relay_tx TEXT, note TEXT, ready_at REAL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Round states: watching -> reported -> finalized, or cancelled / refused (terminal). `failed`: scoring
# gave up after bounded retries (the reason is in `note`); the round is still followed to its end.
TERMINAL = ("finalized", "cancelled", "refused")
# Upload statuses: accepted | rejected | purged (the provider never committed or revealed; file deleted).
MIGRATIONS = (
    "ALTER TABLE uploads ADD COLUMN committed INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE uploads ADD COLUMN client TEXT",  # the uploader's IP, for its pending-storage quota
)
UPLOAD_COLUMNS = "(auction_id, provider, status, sha256, root, size, reason, received, committed, client)"


@dataclass(frozen=True)
class Upload:
    auction_id: int
    provider: str
    status: str  # accepted | rejected
    sha256: str | None
    root: str | None
    size: int | None
    reason: str | None


@dataclass(frozen=True)
class Round:
    auction_id: int
    state: str
    report: dict[str, Any] | None
    signature: str | None
    transcript: dict[str, Any] | None
    transcript_signature: str | None
    relay_tx: str | None
    note: str | None
    ready_at: float | None


class Store:
    """Thread-safe (one lock) access to the oracle's SQLite database and ciphertext files."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir)
        (self.dir / "uploads").mkdir(parents=True, exist_ok=True)
        for stale in (self.dir / "uploads").glob("*/.upload-*"):  # bodies cut off by a crash: never accepted
            stale.unlink(missing_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.dir / "oracle.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        for stmt in MIGRATIONS:  # databases from earlier versions gain the new columns once
            try:
                self._db.execute(stmt)
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta ---------------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- uploads ------------------------------------------------------------------------------------
    def ciphertext_path(self, auction_id: int, provider: str) -> Path:
        return self.dir / "uploads" / str(auction_id) / f"{to_checksum_address(provider)}.sealed"

    def accept_upload(self, auction_id: int, provider: str, ciphertext: bytes, sha256: str, root: str) -> None:
        """Stores the ciphertext durably, then records it (replacing any earlier upload of this provider)."""
        path = self.ciphertext_path(auction_id, provider)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(ciphertext)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO uploads {UPLOAD_COLUMNS} VALUES (?, ?, 'accepted', ?, ?, ?, NULL, ?, 1, NULL)",
                (auction_id, to_checksum_address(provider), sha256, root, len(ciphertext), time.time()),
            )

    def upload_tempfile(self, auction_id: int) -> tuple[int, Path]:
        """A fresh temp file beside the final ciphertexts (same file system, so the rename is atomic)."""
        d = self.dir / "uploads" / str(auction_id)
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".upload-")
        return fd, Path(tmp)

    def accept_upload_file(
        self,
        auction_id: int,
        provider: str,
        tmp: Path,
        sha256: str,
        root: str,
        size: int,
        *,
        committed: bool,
        client: str | None = None,
    ) -> None:
        """Makes a streamed temp file the provider's upload: fsync, atomic rename, then the database row."""
        path = self.ciphertext_path(auction_id, provider)
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO uploads {UPLOAD_COLUMNS} VALUES (?, ?, 'accepted', ?, ?, ?, NULL, ?, ?, ?)",
                (auction_id, to_checksum_address(provider), sha256, root, size, time.time(), int(committed), client),
            )

    def pending_bytes(self, client: str | None = None) -> int:
        """Stored bytes of accepted uploads whose provider had not committed on chain when they arrived
        (all of them, or those that came from `client`)."""
        sql = "SELECT COALESCE(SUM(size), 0) FROM uploads WHERE status = 'accepted' AND committed = 0"
        with self._lock:
            if client is None:
                row = self._db.execute(sql).fetchone()
            else:
                row = self._db.execute(sql + " AND client = ?", (client,)).fetchone()
        return int(row[0])

    def uploaders(self, auction_id: int) -> list[str]:
        """Providers with an accepted upload for this auction."""
        with self._lock:
            rows = self._db.execute(
                "SELECT provider FROM uploads WHERE auction_id = ? AND status = 'accepted'", (auction_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def purge_uploads(self, auction_id: int, providers: list[str], reason: str) -> int:
        """Deletes these providers' ciphertexts (row first, so a crash never leaves a row without its file)."""
        for p in providers:
            with self._lock:
                self._db.execute(
                    "UPDATE uploads SET status = 'purged', reason = ? WHERE auction_id = ? AND provider = ?",
                    (reason, auction_id, to_checksum_address(p)),
                )
            self.ciphertext_path(auction_id, p).unlink(missing_ok=True)
        return len(providers)

    def mark_committed(self, auction_id: int) -> None:
        """The auction's remaining uploads belong to committed providers (they leave the pending quota)."""
        with self._lock:
            self._db.execute(
                "UPDATE uploads SET committed = 1 WHERE auction_id = ? AND status = 'accepted'", (auction_id,)
            )

    def reject_upload(self, auction_id: int, provider: str, reason: str, *, sha256: str | None = None) -> None:
        """Records a refused attempt; it never replaces an upload that was accepted."""
        with self._lock:
            self._db.execute(
                f"INSERT INTO uploads {UPLOAD_COLUMNS} VALUES (?, ?, 'rejected', ?, NULL, NULL, ?, ?, 0, NULL) "
                "ON CONFLICT (auction_id, provider) DO UPDATE SET sha256 = excluded.sha256, "
                "reason = excluded.reason, received = excluded.received WHERE uploads.status != 'accepted'",
                (auction_id, to_checksum_address(provider), sha256, reason, time.time()),
            )

    def upload(self, auction_id: int, provider: str) -> Upload | None:
        with self._lock:
            row = self._db.execute(
                "SELECT auction_id, provider, status, sha256, root, size, reason FROM uploads "
                "WHERE auction_id = ? AND provider = ?",
                (auction_id, to_checksum_address(provider)),
            ).fetchone()
        return Upload(*row) if row else None

    # -- rounds -------------------------------------------------------------------------------------
    def round(self, auction_id: int) -> Round | None:
        with self._lock:
            row = self._db.execute(
                "SELECT auction_id, state, report, signature, transcript, transcript_signature, relay_tx, note, "
                "ready_at FROM rounds WHERE auction_id = ?",
                (auction_id,),
            ).fetchone()
        if row is None:
            return None
        return Round(
            row[0], row[1], json.loads(row[2]) if row[2] else None, row[3],
            json.loads(row[4]) if row[4] else None, row[5], row[6], row[7], row[8],
        )  # fmt: skip

    def open_rounds(self) -> list[int]:
        marks = ",".join("?" * len(TERMINAL))
        with self._lock:
            rows = self._db.execute(
                f"SELECT auction_id FROM rounds WHERE state NOT IN ({marks}) ORDER BY auction_id", TERMINAL
            ).fetchall()
        return [r[0] for r in rows]

    def failed_rounds(self) -> dict[int, str]:
        """Rounds whose scoring gave up, with the reason (shown on /v1/health)."""
        with self._lock:
            rows = self._db.execute("SELECT auction_id, note FROM rounds WHERE state = 'failed'").fetchall()
        return {r[0]: r[1] or "" for r in rows}

    def watch(self, auction_id: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO rounds (auction_id, state, updated) VALUES (?, 'watching', ?)",
                (auction_id, time.time()),
            )

    def save_report(
        self, auction_id: int, report: dict[str, Any], signature: str, transcript: dict[str, Any], transcript_sig: str
    ) -> None:
        """Report, signature and transcript in one transaction: a crash leaves all or none."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE rounds SET state = 'reported', report = ?, signature = ?, transcript = ?, "
                "transcript_signature = ?, ready_at = ?, updated = ? WHERE auction_id = ?",
                (json.dumps(report), signature, json.dumps(transcript), transcript_sig, now, now, auction_id),
            )

    def set_state(self, auction_id: int, state: str, *, note: str | None = None, relay_tx: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE rounds SET state = ?, note = COALESCE(?, note), relay_tx = COALESCE(?, relay_tx), "
                "updated = ? WHERE auction_id = ?",
                (state, note, relay_tx, time.time(), auction_id),
            )
