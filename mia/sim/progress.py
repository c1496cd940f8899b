"""Progress bars for long simulations (tqdm on stderr), or none at all in tests and libraries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    enabled: bool = True

    @classmethod
    def silent(cls) -> Progress:
        return cls(enabled=False)

    def iter(self, items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        if not self.enabled:
            yield from items
            return
        yield from tqdm(items, desc=desc, total=total, leave=False, dynamic_ncols=True)
