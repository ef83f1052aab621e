"""moto_server whose DynamoDB writes are atomic, as DynamoDB's are.

moto's threaded server evaluates a ConditionExpression and then writes the item without a
lock, so two concurrent conditional writes of one item can both pass their condition
(observed under CPU load: two delivery claims of one place both succeeded). Real DynamoDB
evaluates the condition and writes atomically per item. The tests start moto through this
launcher so that they test zaaklink's concurrency, not moto's missing lock: every DynamoDB
write runs under one process-wide lock. Usage as moto_server's: `python moto_atomic.py -H
127.0.0.1 -p 0`.
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return locked


for _name in (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
    "get_item",
):
    setattr(DynamoDBBackend, _name, _atomic(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
