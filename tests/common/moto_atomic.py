"""moto_server whose DynamoDB writes are atomic, as DynamoDB's are; optionally shared.

moto's threaded server evaluates a ConditionExpression and then writes the item without a
lock, so two concurrent conditional writes of one item can both pass their condition
(observed under CPU load: two delivery claims of one place both succeeded). Real DynamoDB
evaluates the condition and writes atomically per item. The tests start moto through this
launcher so that they test zaaklink's concurrency, not moto's missing lock: every DynamoDB
write runs under one process-wide lock.

Two ways to run it:

- `python moto_atomic.py -H 127.0.0.1 -p 0`: exactly as moto_server.
- `python moto_atomic.py --shared DIR --linger SECONDS`: the server that the tests of one
  test binary share (tests/common/mod.rs starts it; see there for the protocol). It binds
  127.0.0.1 on a free port and writes "PORT PID" to DIR/port. Each test gets an AWS
  account of its own: a request to `/_account/<12 digits>/...` is served as `/...` in that
  account (moto's `x-moto-account-id`), so tests that share the server never see each
  other's tables, buses or queues. The server stops by itself once none of the test
  processes registered in DIR/clients/ (files named by pid, holding the process start time)
  has been alive for SECONDS; it takes DIR/../lock before it decides, the same lock under
  which a test registers, so it never stops under a test that just found it.
"""

import fcntl
import functools
import os
import re
import sys
import threading
import time

from moto.dynamodb.models import DynamoDBBackend

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

_ACCOUNT_PATH = re.compile(r"^/_account/(\d{12})(/.*)?$")


class AccountPrefix:
    """WSGI middleware: `/_account/<id>/rest` is served as `/rest` in account `<id>`."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        m = _ACCOUNT_PATH.match(environ.get("PATH_INFO", ""))
        if m:
            rest = m.group(2) or "/"
            environ["PATH_INFO"] = rest
            for key in ("REQUEST_URI", "RAW_URI"):
                raw = environ.get(key)
                if raw:
                    environ[key] = raw[len("/_account/") + 12 :] or "/"
                    if not environ[key].startswith("/"):
                        environ[key] = "/" + environ[key]
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = m.group(1)
        return self.app(environ, start_response)


def _start_time(pid):
    """The process's start time (clock ticks since boot), or None when it is not running."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name (field 2) may hold spaces: split after its closing ")"
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"


def _live_clients(clients):
    """Registered test processes still running; the files of the others are removed."""
    live = 0
    for name in os.listdir(clients):
        path = os.path.join(clients, name)
        try:
            with open(path) as f:
                registered = f.read().strip()
            pid = int(name)
        except (OSError, ValueError):
            continue
        started = _start_time(pid)
        if started is not None and (started == "?" or not registered or registered == started):
            live += 1
        else:
            try:
                os.remove(path)
            except OSError:
                pass
    return live


def _watchdog(directory, linger, server):
    clients = os.path.join(directory, "clients")
    lock_path = os.path.join(os.path.dirname(directory), "lock")
    idle_since = None
    while True:
        time.sleep(0.5)
        if _live_clients(clients):
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since < linger:
            continue
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _live_clients(clients):
                idle_since = None
                continue
            try:
                os.remove(os.path.join(directory, "port"))
            except OSError:
                pass
            # exit while holding the lock: a test that waits for it then finds no port file
            sys.stdout.flush()
            os._exit(0)


def shared(directory, linger):
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1",
        0,
        AccountPrefix(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    port = server.socket.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)
    tmp = os.path.join(directory, "port.tmp")
    with open(tmp, "w") as f:
        f.write(f"{port} {os.getpid()}\n")
    os.replace(tmp, os.path.join(directory, "port"))
    print(f"shared moto on http://127.0.0.1:{port} (pid {os.getpid()})", flush=True)
    threading.Thread(target=_watchdog, args=(directory, linger, server), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--shared" and sys.argv[3] == "--linger":
        shared(sys.argv[2], float(sys.argv[4]))
    else:
        from moto.server import main

        sys.argv[0] = "moto_server"
        sys.exit(main())
