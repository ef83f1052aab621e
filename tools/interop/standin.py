"""A small stand-in for Open Notificaties (stdlib only), for scripts/interop.

Serves, under --root (e.g. /api/v1/):
  GET/POST {root}kanaal     what Open Klant's `register_kanalen` reads and writes
  POST {root}notificaties   a notification from Open Klant's Celery worker: answered 201 at
                            once, then delivered to the one abonnement (--callback, with the
                            `Authorization` from INTEROP_ABONNEMENT_AUTH) by one delivery
                            thread, in arrival order, retried like Open Notificaties does
                            (non-2xx or no connection: 5 retries, backoff factor 3, at most 48 s)
  GET /_interop/status      counters for the scenario runner
Every received notification and every delivery attempt is appended to --log (JSON lines).
"""

import argparse
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"received": 0, "delivered": 0, "failed": 0, "attempts": 0, "kanalen": []}
PENDING = queue.Queue()
IN_FLIGHT = [0]


def log(args, record):
    record["at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
    with LOCK, open(args.log, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def deliver_loop(args, auth):
    while True:
        n, body = PENDING.get()
        delays = [0, 1, 3, 9, 27, 48]
        ok = False
        for attempt, delay in enumerate(delays):
            time.sleep(delay)
            req = urllib.request.Request(
                args.callback,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": auth},
            )
            status, answer = None, ""
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    status = resp.status
            except urllib.error.HTTPError as e:
                status = e.code
                answer = e.read(500).decode("utf-8", "replace")
            except OSError as e:
                answer = f"{type(e).__name__}: {e}"
            with LOCK:
                STATE["attempts"] += 1
            log(args, {"event": "delivery", "n": n, "attempt": attempt + 1, "status": status, "answer": answer})
            if status is not None and 200 <= status < 300:
                ok = True
                break
        with LOCK:
            STATE["delivered" if ok else "failed"] += 1
            IN_FLIGHT[0] -= 1


class Handler(BaseHTTPRequestHandler):
    server_version = "interop-notificaties-standin"

    def log_message(self, fmt, *a):  # quiet; everything goes to --log
        pass

    def _json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        args = self.server.args
        path, _, query = self.path.partition("?")
        if path == "/_interop/status":
            with LOCK:
                status = dict(STATE, pending=IN_FLIGHT[0])
            return self._json(200, status)
        if path.rstrip("/") == args.root + "kanaal":
            naam = None
            for part in query.split("&"):
                if part.startswith("naam="):
                    naam = urllib.request.unquote(part[5:])
            with LOCK:
                kanalen = [k for k in STATE["kanalen"] if naam is None or k["naam"] == naam]
            return self._json(200, kanalen)
        self._json(404, {"detail": "not found"})

    def do_POST(self):
        args = self.server.args
        path = self.path.partition("?")[0].rstrip("/")
        body = self._body()
        if path == args.root + "kanaal":
            try:
                kanaal = json.loads(body)
            except ValueError:
                return self._json(400, {"detail": "not JSON"})
            host = self.headers.get("Host", "localhost")
            kanaal["url"] = f"http://{host}{args.root}kanaal/{kanaal.get('naam', '')}"
            with LOCK:
                STATE["kanalen"].append(kanaal)
            log(args, {"event": "kanaal", "body": kanaal, "authorization_present": bool(self.headers.get("Authorization"))})
            return self._json(201, kanaal)
        if path == args.root + "notificaties":
            try:
                notification = json.loads(body)
            except ValueError:
                return self._json(400, {"detail": "not JSON"})
            with LOCK:
                STATE["received"] += 1
                n = STATE["received"]
                IN_FLIGHT[0] += 1
            log(
                args,
                {
                    "event": "notification",
                    "n": n,
                    "body": notification,
                    "content_type": self.headers.get("Content-Type"),
                    "authorization_scheme": (self.headers.get("Authorization") or "").split(" ")[0],
                },
            )
            PENDING.put((n, body))
            return self._json(201, notification)
        self._json(404, {"detail": "not found"})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="host:port")
    p.add_argument("--root", default="/api/v1/")
    p.add_argument("--callback", required=True, help="the abonnement's callback URL")
    p.add_argument("--log", required=True)
    args = p.parse_args()
    auth = os.environ.get("INTEROP_ABONNEMENT_AUTH")
    if not auth:
        raise SystemExit("standin: INTEROP_ABONNEMENT_AUTH (the abonnement's auth) is not set")
    if not args.root.endswith("/"):
        args.root += "/"
    threading.Thread(target=deliver_loop, args=(args, auth), daemon=True).start()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.args = args
    server.serve_forever()


if __name__ == "__main__":
    main()
