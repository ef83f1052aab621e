"""The callback URL of zaaklink's abonnementen in scripts/interop (stdlib only).

Open Notificaties POSTs to this tap; the tap forwards each request unchanged (method, body,
Content-Type, Authorization) to `zaaklink serve` and answers with zaaklink's status and body.
When zaaklink is down the tap answers 502, which Open Notificaties treats like a refused
connection (a failed attempt, retried). Every request is appended to --log as a JSON line:
when it arrived and was answered, its Content-Type, whether it had an Authorization, what it
carried (a notification's kanaal/resource/actie/resourceUrl, a CloudEvent's type/subject/
linkTo) and zaaklink's answer. The report's paths, the registration checks and the retries
come from this log. GET /_tap/status gives counters.
"""

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"requests": 0, "ok": 0, "failed": 0}


def summary(body, content_type):
    try:
        msg = json.loads(body)
    except ValueError:
        return {"kind": "not JSON"}
    if not isinstance(msg, dict):
        return {"kind": "not an object"}
    if "specversion" in msg:
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        return {
            "kind": "cloudevent",
            "id": msg.get("id"),
            "type": msg.get("type"),
            "source": msg.get("source"),
            "subject": msg.get("subject"),
            "linkTo": data.get("linkTo"),
            "hoofdObject": data.get("hoofdObject"),
            "data": data,
        }
    return {
        "kind": "notification",
        "kanaal": msg.get("kanaal"),
        "resource": msg.get("resource"),
        "actie": msg.get("actie"),
        "resourceUrl": msg.get("resourceUrl"),
        "source": msg.get("source"),
        "kenmerken": msg.get("kenmerken"),
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "interop-tap"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def _send(self, status, body=b"", content_type=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_tap/status":
            with LOCK:
                body = json.dumps(STATE).encode()
            return self._send(200, body, "application/json")
        self._send(404)

    def do_POST(self):
        args = self.server.args
        received = time.time()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        headers = {}
        for h in ("Content-Type", "Authorization"):
            if self.headers.get(h) is not None:
                headers[h] = self.headers.get(h)
        req = urllib.request.Request(args.to, data=body, method="POST", headers=headers)
        status, answer, ctype, down = None, b"", None, False
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, answer, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            status, answer, ctype = e.code, e.read(), e.headers.get("Content-Type")
        except OSError as e:
            status, answer, ctype = 502, f"zaaklink unreachable: {type(e).__name__}: {e}".encode(), "text/plain"
            down = True
        answered = time.time()
        record = {
            "received": round(received, 3),
            "answered": round(answered, 3),
            "content_type": self.headers.get("Content-Type"),
            "authorization": self.headers.get("Authorization") is not None,
            "user_agent": self.headers.get("User-Agent"),
            "status": status,
            "zaaklink_down": down,
            "answer": answer[:300].decode("utf-8", "replace"),
        }
        record.update(summary(body, self.headers.get("Content-Type")))
        with LOCK:
            STATE["requests"] += 1
            STATE["ok" if 200 <= status < 300 else "failed"] += 1
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        self._send(status, answer, ctype)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="host:port")
    p.add_argument("--to", required=True, help="zaaklink serve's URL")
    p.add_argument("--log", required=True)
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    server.args = args
    server.serve_forever()


if __name__ == "__main__":
    main()
