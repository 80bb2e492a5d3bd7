"""Make moto's DynamoDB transactions as fast as the demo needs, without changing what they do.

moto backs up a table before a `TransactWriteItems` by deep-copying it once for every item of
the transaction (the copies are identical: they are all taken before any write). The demo writes
every thread in a transaction, so that repeated copy of a growing table dominated its run time.
Here the copy is taken once per table per transaction; the rollback state is the same.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

_installed = False
_local = threading.local()


class _CopyOncePerTransaction:
    """Stands in for the `copy` module inside moto's DynamoDB models."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        cache: dict[int, Any] | None = getattr(_local, "cache", None)
        if cache is None:
            return copy.deepcopy(value, memo)
        key = id(value)
        if key not in cache:
            cache[key] = copy.deepcopy(value, memo)
        return cache[key]


def install() -> None:
    """Idempotent; only the local stack calls it (the tests run moto unchanged)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb import models

    original = models.DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _local.cache = {}
        try:
            original(self, transact_items)
        finally:
            _local.cache = None

    models.copy = _CopyOncePerTransaction()  # type: ignore[assignment,attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _installed = True
