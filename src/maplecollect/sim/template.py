"""Pre-serialised bodies with a hole for the `date` value, and a small LRU for them.

Bodies differ only by the requested date, so a request costs one `bytes.join`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

import orjson

from maplecollect.sim.clock import api_datetime

DATE_MARK = "@@maplecollect-sim-date@@"
_DATE_MARK_JSON = orjson.dumps(DATE_MARK)


def date_json(day: date | None) -> bytes:
    """The JSON value spliced into a template: `"2026-11-26T00:00+09:00"` or `null`."""
    return b"null" if day is None else orjson.dumps(api_datetime(day))


@dataclass(frozen=True, slots=True)
class Template:
    """A body split at every date marker; `render` joins the pieces with the date value."""

    segments: tuple[bytes, ...]

    @classmethod
    def from_json(cls, data: bytes) -> Template:
        return cls(tuple(data.split(_DATE_MARK_JSON)))

    @classmethod
    def dumps(cls, obj: object) -> Template:
        """Serialise `obj`, whose date fields hold `DATE_MARK`."""
        return cls.from_json(orjson.dumps(obj))

    def render(self, day_json: bytes) -> bytes:
        if len(self.segments) == 1:
            return self.segments[0]
        return day_json.join(self.segments)

    @property
    def nbytes(self) -> int:
        return sum(len(s) for s in self.segments)


K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """Least-recently-used cache bounded by a total weight (entries, or bytes)."""

    def __init__(self, capacity: int, weigh: Callable[[V], int] = lambda _: 1) -> None:
        self._capacity = capacity
        self._weigh = weigh
        self._weight = 0
        self._items: OrderedDict[K, V] = OrderedDict()

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        items = self._items
        value = items.get(key)
        if value is not None:
            items.move_to_end(key)
            return value
        value = build()
        weight = self._weigh(value)
        if weight > self._capacity:
            return value  # bigger than the whole cache: serve it, do not keep it
        items[key] = value
        self._weight += weight
        while self._weight > self._capacity:
            _, evicted = items.popitem(last=False)
            self._weight -= self._weigh(evicted)
        return value
