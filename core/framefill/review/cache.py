"""A least-recently-used cache bounded by bytes, shared by the viewer's decode threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ByteLRU", "DEFAULT_CACHE_BYTES"]

V = TypeVar("V")
# Enough for ~4 s of a 2K beauty as float32 planes plus their display images;
# `framefill review --cache-mb` changes it.
DEFAULT_CACHE_BYTES = 1 << 30


class ByteLRU(Generic[V]):
    """Values by key, the least recently used dropped first once their sizes pass ``limit_bytes``.

    ``size_of`` gives a value's size in bytes. A value larger than the whole
    limit is not kept. Thread-safe.
    """

    def __init__(self, limit_bytes: int, size_of: Callable[[V], int]) -> None:
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be 0 or more, got {limit_bytes}")
        self.limit_bytes = limit_bytes
        self._size_of = size_of
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: V) -> None:
        size = int(self._size_of(value))
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.limit_bytes:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.limit_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
