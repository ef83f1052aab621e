"""One round of the interop scenarios (stdlib only), run by scripts/interop once everything is up.

A round is one mode of the chain Open Klant -> Open Notificaties -> zaaklink -> Open Zaak:
  a  the classic `klantcontacten` abonnement; Open Klant's cloud events off;
  b  Open Klant's cloud events on, plus a CloudEvents abonnement (filter group
     `nl.overheid.zaken`) next to the klantcontacten one.
zaaklink's abonnementen are registered through Open Notificaties' API with an operator's
JWT. Then three steps of changes through Open Klant's own API, each change on objects of its
own so they can run side by side:
  1. creates (maak-klantcontact; a klantcontact, then its onderwerpobject POSTed separately;
     an onderwerpobject, then its klantcontact PATCHed; a label over 80 characters; a burst);
  2. changes of what step 1 made (relinks and deletes on their own or with a klantcontact
     PATCH or delete, a label change, the burst's relinks and deletes);
  3. zaaklink down for --down seconds while changes are made, then up again.
Every change is timed from Open Klant's answer until Open Zaak's zaakobjecten show it (polled);
the path that brought it is read from the callback tap's log (a notification or a CloudEvent
that zaaklink accepted) and from zaaklink's log (a head poll or a resync pass). After the
steps every seeded zaak is compared (Open Klant's links = Open Zaak's ZaakObjecten).
With --final: `zaaklink resync` must find nothing left to do, and DESIGN §8's facts are probed.

Environment: INTEROP_OK_TOKEN, INTEROP_OZ_READER_ID/_SECRET, INTEROP_ON_OPERATOR_ID/_SECRET,
INTEROP_ON_CLIENT_ID/_SECRET, and zaaklink's settings (WEBHOOK_AUTH, OPEN_KLANT_*,
OPEN_ZAAK_*, ZAAKLINK_*, …) for the zaaklink processes.
"""

import argparse
import datetime
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request

import audit
import backtoback
import probes
from util import count_in, parse_ts, read_jsonl
from watch import Watcher
from clients import OpenKlant, OpenZaak, compare, label_form, request, zgw_jwt

K_MAAK = "create: maak-klantcontact (klantcontact and onderwerpobject in one call)"
K_SEPARATE = "create: klantcontact POSTed, then its onderwerpobject POSTed separately"
K_OO_PATCH = "create: onderwerpobject POSTed, then its klantcontact PATCHed"
K_RELINK = "relink of an onderwerpobject on its own"
K_RELINK_PATCH = "relink, then its klantcontact PATCHed"
K_DELETE = "delete of an onderwerpobject on its own"
K_DELETE_CASCADE = "delete of an onderwerpobject with ?cascade=true"
K_KC_DELETE = "klantcontact deleted (its onderwerpobjecten go by cascade)"
KINDS = [K_MAAK, K_SEPARATE, K_OO_PATCH, backtoback.K_BIG_BURST, K_RELINK, K_RELINK_PATCH, K_DELETE, K_DELETE_CASCADE, K_KC_DELETE]


class Failure(Exception):
    pass


class Runner:
    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        self.ok = OpenKlant(args.ok_root, os.environ["INTEROP_OK_TOKEN"])
        self.oz = OpenZaak(args.oz_root, os.environ["INTEROP_OZ_READER_ID"], os.environ["INTEROP_OZ_READER_SECRET"])
        seeded = json.load(open(args.zaken))
        self.zaken = seeded["zaken"]
        self.probe_zaak = seeded["probe_zaak"]
        self.zaak_urls = {z["uuid"]: z["url"] for z in self.zaken}
        self.announced = {}
        prev = args.out.replace(f"results-{self.mode}.json", "announced.json")
        self.announced_file = prev
        if os.path.exists(prev):
            self.announced = json.load(open(prev))
        # klantcontact nummers: unique over the rounds of one run
        self.nummer = {"a": 1000000000, "b": 2000000000}[self.mode]
        self.serve = None
        self.intervals = "shortened"
        self.serve_log = os.path.join(args.logs, "zaaklink-serve.log")
        self.rng = random.Random(13 if self.mode == "a" else 17)
        self.changes = []
        self.steps = []
        self.linked = []  # the objects this round made that still link a zaak, oldest first
        # zaaklink's intervals per step: its defaults wherever a round can afford them (the
        # figures a user meets); the run's shortened pass only where round a waits for passes
        # (silent relinks and deletes) and in its outage step. INTEROP_DEFAULTS=0: shortened
        # throughout (for a zaaklink without a head poll, whose default pass is an hour).
        use_defaults = os.environ.get("INTEROP_DEFAULTS", "1") != "0"
        if not use_defaults:
            self.plan = {1: "shortened", 2: "shortened", 3: "shortened", 4: "shortened"}
        elif self.mode == "a":
            self.plan = {1: "defaults", 2: "shortened", 3: "shortened", 4: "defaults"}
        else:
            self.plan = {1: "defaults", 2: "defaults", 3: "defaults", 4: "defaults"}
        self.result = {"mode": self.mode, "plan": self.plan, "registration": [], "scenarios": [], "changes": self.changes, "steps": self.steps}

    # ------------------------------------------------------------------ zaaklink processes
    def _record_pid(self, name, pid):
        with open(f"/proc/{pid}/stat") as f:
            start = f.read().rsplit(")", 1)[1].split()[19]
        with open(self.args.pids, "a") as f:
            f.write(f"{name} {pid} {start}\n")

    def _forget_pid(self, pid):
        with open(self.args.pids) as f:
            lines = [line for line in f if line.split()[1:2] != [str(pid)]]
        with open(self.args.pids, "w") as f:
            f.writelines(lines)

    def start_serve(self, defaults=False):
        """zaaklink serve; with defaults=True without the run's shortened pass intervals."""
        env = dict(os.environ)
        if defaults:
            for k in ("RESYNC_INTERVAL", "ZAAKLINK_RESYNC_EVERY"):
                env.pop(k, None)
        self.intervals = "defaults" if defaults else "shortened"
        log = open(self.serve_log, "a")
        log.write(json.dumps({"timestamp": now_iso(), "interop": f"round {self.mode}: zaaklink serve starts ({self.intervals} intervals)"}) + "\n")
        log.flush()
        self.serve_started = time.time()
        self.serve = subprocess.Popen(
            [self.args.zaaklink, "serve"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
        self._record_pid("zaaklink", self.serve.pid)
        host, port = os.environ["ZAAKLINK_LISTEN"].rsplit(":", 1)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.serve.poll() is not None:
                raise Failure(f"zaaklink serve exited ({self.serve.returncode}); see logs/zaaklink-serve.log")
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise Failure("zaaklink serve did not listen within 60 s")

    def stop_serve(self):
        if self.serve and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)  # by its pid
            try:
                self.serve.wait(15)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        if self.serve:
            self._forget_pid(self.serve.pid)
            with open(self.serve_log, "a") as log:
                log.write(json.dumps({"timestamp": now_iso(), "interop": f"round {self.mode}: zaaklink serve stopped"}) + "\n")
        self.serve = None

    # ------------------------------------------------------------------ Open Notificaties
    def on_call(self, method, path, body=None, client=("INTEROP_ON_OPERATOR_ID", "INTEROP_ON_OPERATOR_SECRET"), headers=None):
        hdrs = {"Authorization": f"Bearer {zgw_jwt(os.environ[client[0]], os.environ[client[1]])}"}
        hdrs.update(headers or {})
        return request(method, self.args.on_root + path, body, hdrs)

    def tap_since(self, t0):
        return [r for r in read_jsonl(self.args.tap_log) if r["received"] >= t0]

    def register(self, what, body):
        """An abonnement POSTed as an operator would; Open Notificaties calls the callback (the
        tap, in front of zaaklink) while it validates. Records its answer and those calls."""
        t0 = time.time()
        status, answer = self.on_call("POST", "abonnement", body)
        time.sleep(0.5)
        calls = [
            {"authorization": r["authorization"], "status": r["status"], "kind": r.get("kind"), "kanaal": r.get("kanaal"), "content_type": r["content_type"]}
            for r in self.tap_since(t0)
        ]
        shown = {k: v for k, v in body.items() if k != "auth"}
        shown["auth"] = "<WEBHOOK_AUTH>" if body.get("auth") == os.environ["WEBHOOK_AUTH"] else "<not the webhook auth>"
        answer_shown = answer if isinstance(answer, dict) else {"raw": str(answer)[:300]}
        self.result["registration"].append({"what": what, "request": shown, "status": status, "answer": answer_shown, "callback_calls": calls})
        print(f"   abonnement ({what}): {status}; callback calls: {[(c['authorization'], c['status']) for c in calls]}", flush=True)
        return status, answer

    def abonnementen(self):
        status, data = self.on_call("GET", "abonnement")
        if status != 200:
            raise Failure(f"Open Notificaties GET abonnement: {status} {data}")
        items = data if isinstance(data, list) else data.get("results", [])
        return [a for a in items if a.get("callbackUrl") == self.args.tap_url]

    def setup_abonnementen(self):
        auth = os.environ["WEBHOOK_AUTH"]
        mine = self.abonnementen()
        classic = {"callbackUrl": self.args.tap_url, "auth": auth, "kanalen": [{"naam": "klantcontacten", "filters": {}}]}
        if not any(a.get("kanalen") and not a.get("sendCloudevents") for a in mine):
            # first, as an operator might get it wrong: an auth that is not the webhook's
            wrong = dict(classic, auth="Token not-the-webhook-secret")
            st, _ = self.register("classic, wrong auth (refused as it must be)", wrong)
            if st == 201:
                raise Failure("Open Notificaties accepted an abonnement whose auth zaaklink refuses")
            st, ans = self.register("classic: kanaal klantcontacten", classic)
            if st != 201:
                raise Failure(f"Open Notificaties refused the klantcontacten abonnement: {st} {ans}")
        if self.mode == "b" and not any(a.get("sendCloudevents") for a in mine):
            ce = {
                "callbackUrl": self.args.tap_url,
                "auth": auth,
                "kanalen": [],
                "sendCloudevents": True,
                "cloudeventFilters": [{"typeSubstring": "nl.overheid.zaken", "filters": {}}],
            }
            st, ans = self.register("CloudEvents: filter group nl.overheid.zaken", ce)
            if st != 201:
                raise Failure(f"Open Notificaties refused the CloudEvents abonnement: {st} {ans}")
        self.result["abonnementen"] = self.abonnementen()

    # ------------------------------------------------------------------ Open Klant writes
    def next_nummer(self):
        self.nummer += 1
        return str(self.nummer)

    def kc_body(self, onderwerp):
        return {
            "nummer": self.next_nummer(),
            "kanaal": "telefoon",
            "onderwerp": onderwerp,
            "inhoud": "interop",
            "indicatieContactGelukt": True,
            "taal": "nld",
            "vertrouwelijk": False,
            "plaatsgevondenOp": "2026-01-01T12:00:00Z",
        }

    @staticmethod
    def ident(zaak_uuid):
        return {"codeObjecttype": "zaak", "codeSoortObjectId": "uuid", "objectId": zaak_uuid, "codeRegister": "openzaak"}

    def zaak(self, but=None):
        return self.rng.choice([z["uuid"] for z in self.zaken if z["uuid"] != but])

    def change(self, step, scenario, kind, kc, oo, target, t):
        """Record one change: Open Zaak must show `oo` on `target` (None: nowhere)."""
        c = {
            "step": step,
            "scenario": scenario,
            "kind": kind,
            "kc": kc["url"],
            "oo": oo["url"],
            "target": target,
            "label": label_form(kc) if target else None,
            "t": t,
            "seen": None,
            "intervals": self.intervals,
        }
        self.changes.append(c)
        return c

    def maak(self, step, scenario, onderwerp, zaak_uuid, kind=K_MAAK):
        body = {
            "klantcontact": self.kc_body(onderwerp),
            "onderwerpobject": {"wasKlantcontact": None, "onderwerpobjectidentificator": self.ident(zaak_uuid)},
        }
        data = self.ok.call("POST", "maak-klantcontact", body, want=(201,))
        t = time.time()
        kc, oo = data["klantcontact"], data["onderwerpobject"]
        self.change(step, scenario, kind, kc, oo, zaak_uuid, t)
        obj = {"kc": kc, "oo": oo, "zaak": zaak_uuid}
        self.linked.append(obj)
        return obj

    def separate(self, step, scenario, onderwerp, zaak_uuid, patch_after=False):
        kc = self.ok.call("POST", "klantcontacten", self.kc_body(onderwerp), want=(201,))
        body = {"klantcontact": {"uuid": kc["uuid"]}, "wasKlantcontact": None, "onderwerpobjectidentificator": self.ident(zaak_uuid)}
        oo = self.ok.call("POST", "onderwerpobjecten", body, want=(201,))
        t = time.time()
        if patch_after:
            self.ok.call("PATCH", f"klantcontacten/{kc['uuid']}", {"inhoud": "onderwerpobject toegevoegd"})
        self.change(step, scenario, K_OO_PATCH if patch_after else K_SEPARATE, kc, oo, zaak_uuid, t)
        obj = {"kc": kc, "oo": oo, "zaak": zaak_uuid}
        self.linked.append(obj)
        return obj

    def relink(self, step, scenario, obj, patch_after=False):
        target = self.zaak(but=obj["zaak"])
        self.ok.call("PATCH", f"onderwerpobjecten/{obj['oo']['uuid']}", {"onderwerpobjectidentificator": self.ident(target)})
        t = time.time()
        if patch_after:
            self.ok.call("PATCH", f"klantcontacten/{obj['kc']['uuid']}", {"inhoud": f"relinked to {target}"})
        obj["zaak"] = target
        self.change(step, scenario, K_RELINK_PATCH if patch_after else K_RELINK, obj["kc"], obj["oo"], target, t)

    def delete_oo(self, step, scenario, obj, cascade=False):
        q = "?cascade=true" if cascade else ""
        self.ok.call("DELETE", f"onderwerpobjecten/{obj['oo']['uuid']}{q}", want=(200, 204))
        t = time.time()
        self.change(step, scenario, K_DELETE_CASCADE if cascade else K_DELETE, obj["kc"], obj["oo"], None, t)
        self.unlinked(obj)

    def delete_kc(self, step, scenario, obj):
        self.ok.call("DELETE", f"klantcontacten/{obj['kc']['uuid']}", want=(204,))
        t = time.time()
        self.change(step, scenario, K_KC_DELETE, obj["kc"], obj["oo"], None, t)
        self.unlinked(obj)

    def unlinked(self, obj):
        self.linked = [o for o in self.linked if o is not obj]

    # ------------------------------------------------------------------ watching Open Zaak
    def by_object(self):
        out = {}
        for zaak_uuid, objs in self.oz.all_objects(self.zaken).items():
            for zo in objs:
                out.setdefault(zo.get("object"), []).append((zaak_uuid, zo.get("relatieomschrijving")))
        return out

    @staticmethod
    def shows(c, objs):
        if c["target"] is None:
            return not objs
        return objs == [(c["target"], c["label"])]

    def wait_seen(self, step, timeout, watcher=None):
        """Until every change of `step` shows in Open Zaak (each change timed on its own by the
        watcher, which polls from the start of the step, so a change made early in a long step
        is not timed late)."""
        watcher = watcher or Watcher(self, step).begin()
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                if not self.pending(step):
                    break
                watcher.check()
                time.sleep(0.2)
        finally:
            watcher.finish()
        return self.pending(step), watcher.polls

    def pending(self, step):
        return [c for c in list(self.changes) if c["step"] == step and c["seen"] is None]

    # ------------------------------------------------------------------ which path brought it
    def triggers(self, t_from):
        """Everything that can bring a change to zaaklink, with when it was done."""
        out = []
        for r in self.tap_since(t_from - 1):
            if not (200 <= (r.get("status") or 0) < 300):
                continue
            if r.get("kind") == "notification" and r.get("kanaal") == "klantcontacten":
                out.append({"at": r["answered"], "path": "notification", "kc": r.get("resourceUrl")})
            elif r.get("kind") == "cloudevent":
                ty = r.get("type") or ""
                if ty.startswith("nl.overheid.zaken."):
                    out.append({"at": r["answered"], "path": "CloudEvent (Open Klant's " + ty.rsplit(".", 1)[-1] + ")", "oo": r.get("linkTo")})
                elif ty.startswith("nl.overheid.klantcontacten."):
                    out.append({"at": r["answered"], "path": "CloudEvent (notification transformed by Open Notificaties)", "kc_uuid": r.get("subject")})
        for rec in read_jsonl(self.serve_log):
            at = parse_ts(rec.get("timestamp"))
            if at is None or at < t_from - 1:
                continue
            fields = rec.get("fields") or {}
            msg = (fields.get("message") or "").lower()
            emitted = fields.get("emitted", fields.get("events", None))
            if emitted in (0, "0"):
                continue
            if "head" in msg:
                out.append({"at": at, "path": "head poll"})
            elif "resync" in msg or "pass" in msg:
                out.append({"at": at, "path": "pass"})
        return out

    def attribute(self, step):
        """The path of each change: the first delivery zaaklink accepted about it (a
        notification of its klantcontact, a CloudEvent naming its onderwerpobject or
        klantcontact) between the change and Open Zaak showing it; else the first head poll or
        pass that emitted and finished after Open Zaak showed it (they log when they finish,
        after delivering)."""
        mine = [c for c in self.changes if c["step"] == step and c["seen"] is not None]
        if not mine:
            return
        trig = self.triggers(min(c["t"] for c in mine))
        for c in mine:
            kc_uuid = c["kc"].rstrip("/").rsplit("/", 1)[-1]
            deliveries = [
                x
                for x in trig
                if c["t"] - 0.2 <= x["at"] <= c["seen"] + 3
                and (x.get("kc") == c["kc"] or x.get("oo") == c["oo"] or x.get("kc_uuid") == kc_uuid)
            ]
            runs = [x for x in trig if x["path"] in ("head poll", "pass") and x["at"] >= c.get("not_seen_at", c["t"]) - 0.3]
            if deliveries:
                c["path"] = min(deliveries, key=lambda x: x["at"])["path"]
            elif runs:
                c["path"] = min(runs, key=lambda x: x["at"])["path"]
            else:
                c["path"] = "unknown (no accepted delivery, no head poll or pass logged)"
            c["attempts"] = [
                {"at": round(r["received"] - c["t"], 1), "status": r["status"], "down": r.get("zaaklink_down"), "what": r.get("type") or r.get("kanaal")}
                for r in self.tap_since(c["t"] - 0.2)
                if r["received"] <= c["seen"] + 3
                and (r.get("linkTo") == c["oo"] or r.get("resourceUrl") == c["kc"] or (r.get("type") or "").startswith("nl.overheid.klantcontacten") and r.get("subject") == kc_uuid)
            ]

    def attribute_settled(self, step):
        """The paths, read after a short settle: zaaklink logs a head poll or a pass when it has
        finished (after its last delivery), so Open Zaak can show a change before that line is
        written. Looks again, a second apart, until every change has a path, at most
        --settle seconds; returns the seconds waited."""
        t0 = time.time()
        time.sleep(min(2.0, self.args.settle))
        while True:
            self.attribute(step)
            unknown = [c for c in self.changes if c["step"] == step and (c.get("path") or "").startswith("unknown")]
            if not unknown or time.time() - t0 >= self.args.settle:
                return round(time.time() - t0, 1)
            time.sleep(1.0)

    # ------------------------------------------------------------------ the comparison
    def expected(self):
        links = self.ok.links()
        kcs, out = {}, {}
        for oo, link in links.items():
            if link["klantcontact"] not in kcs:
                kcs[link["klantcontact"]] = self.ok.call("GET", link["klantcontact"])
            now = label_form(kcs[link["klantcontact"]])
            before = self.announced.get(oo)
            label = before["label"] if before and before["zaak"] == link["zaak"] else now
            out[oo] = {"zaak": link["zaak"], "label": label, "label_now": now}
        return out

    def compare_now(self, ignore=()):
        """Open Klant's links against Open Zaak's ZaakObjects now, leaving out the ZaakObjects
        named in `ignore` (URLs): the problems (empty = equal)."""
        objects = {z: [zo for zo in zos if zo.get("url") not in ignore] for z, zos in self.oz.all_objects(self.zaken).items()}
        return compare(self.expected(), objects, self.zaak_urls)

    def compare_all(self, timeout):
        t0 = time.time()
        while True:
            expected = self.expected()
            objects = self.oz.all_objects(self.zaken)
            problems = compare(expected, objects, self.zaak_urls)
            if not problems or time.time() - t0 > timeout:
                break
            time.sleep(2)
        per_zaak = []
        for z in self.zaken:
            links = sorted(oo for oo, e in expected.items() if e["zaak"] == z["uuid"])
            zos = objects.get(z["uuid"], [])
            mine = [p for p in problems if z["uuid"] in p or any(oo in p for oo in links)]
            per_zaak.append({"zaak": z["uuid"], "links": len(links), "zaakobjecten": len(zos), "equal": not mine, "problems": mine[:5]})
        return problems, per_zaak, expected, objects

    # ------------------------------------------------------------------ evidence of Open Klant -> Open Notificaties
    def upstream_evidence(self, t0):
        """What Open Klant's worker logged about its sends to Open Notificaties this round, and
        Open Notificaties' answer to the first refused message, POSTed again as it was."""
        failed_msgs = []
        for line in open(self.args.ok_celery_log, encoding="utf-8", errors="replace"):
            if "notification_delivery_failed" not in line and "cloudevent" not in line.lower():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == "notification_delivery_failed":
                failed_msgs.append(rec.get("notification_msg"))
        ev = {
            "notifications_refused_log_lines": count_in(self.args.ok_celery_log, "notification_delivery_failed"),
            "cloudevent_failures_log_lines": count_in(self.args.ok_celery_log, "cloudevent_delivery_failed"),
            "on_bad_request_notificaties": count_in(self.args.on_log, "Bad Request: /api/v1/notificaties"),
            "on_bad_request_cloudevents": count_in(self.args.on_log, "Bad Request: /api/v1/cloudevents"),
        }
        sent = {"notification": 0, "cloudevent": 0}
        for line in open(self.args.on_log, encoding="utf-8", errors="replace"):
            if '"POST /api/v1/notificaties' in line or "POST /api/v1/notificaties HTTP" in line:
                sent["notification"] += 1
            if '"POST /api/v1/cloudevents' in line or "POST /api/v1/cloudevents HTTP" in line:
                sent["cloudevent"] += 1
        ev["on_requests_logged"] = sent
        msg = next((m for m in failed_msgs if isinstance(m, dict)), None)
        if msg:
            st, ans = self.on_call("POST", "notificaties", msg, client=("INTEROP_ON_CLIENT_ID", "INTEROP_ON_CLIENT_SECRET"))
            ev["replayed"] = {"message": msg, "status": st, "answer": ans}
        return ev

    # ------------------------------------------------------------------ the round
    def ensure_serve(self, intervals):
        """zaaklink serve running with these intervals (restarted when they differ)."""
        if self.serve and self.serve.poll() is None and self.intervals == intervals:
            return
        self.stop_serve()
        self.start_serve(defaults=intervals == "defaults")

    def step(self, n, title, action, timeout):
        print(f"-- round {self.mode}, step {n}: {title} (zaaklink: {self.plan[n]} intervals)", flush=True)
        if n != 3:
            self.ensure_serve(self.plan[n])
        t0 = time.time()
        up = round(t0 - self.serve_started, 1) if self.serve else None
        watcher = Watcher(self, n).begin()
        try:
            extra = action() or {}
        except BaseException:
            watcher.finish()
            raise
        ops = round(time.time() - t0, 1)
        pending, polls = self.wait_seen(n, timeout, watcher)
        done = round(time.time() - t0, 1)
        settle = self.attribute_settled(n)
        mine = [c for c in self.changes if c["step"] == n]
        info = {"step": n, "title": title, "changes": len(mine), "api_s": ops, "wall_s": done, "polls": polls, "unseen": len(pending), "zaaklink_up_s": up, "intervals": self.plan[n], "settle_s": settle}
        info.update(extra)
        self.steps.append(info)
        lat = sorted(c["latency"] for c in mine if c["seen"] is not None)
        print(f"   {len(mine) - len(pending)}/{len(mine)} seen in Open Zaak; latency max {lat[-1] if lat else '-'} s; {done} s", flush=True)
        if pending:
            raise Failure(f"round {self.mode} step {n}: {len(pending)} change(s) not in Open Zaak after {timeout} s: " + "; ".join(f"{c['kind']} {c['oo']}" for c in pending[:5]))

    def run(self):
        t_round = time.time()
        timeout = self.args.step_timeout
        self.start_serve(defaults=self.plan[1] == "defaults")
        print(f"-- round {self.mode}: abonnementen", flush=True)
        self.setup_abonnementen()
        objs = {}

        def creates():
            objs["maak"] = [self.maak(1, "maak-klantcontact", f"Vraag {self.mode}{i}", self.zaak()) for i in range(8)]
            objs["sep"] = self.separate(1, "klantcontact, then its onderwerpobject separately", "Terugbelverzoek", self.zaak())
            objs["sep2"] = self.separate(1, "klantcontact, then its onderwerpobject separately", "Terugbelverzoek 2", self.zaak())
            objs["oo_patch"] = self.separate(1, "onderwerpobject, then its klantcontact PATCHed", "Vraag met PATCH", self.zaak(), patch_after=True)
            objs["long"] = self.maak(1, "label over 80 characters (non-ASCII), cut to 80", "Lange vraag " + "é" * 40 + " over de aanvraag " + "ü" * 40, self.zaak())
            objs["burst"] = [self.maak(1, "burst", f"Burst {self.mode}{i}", self.zaak()) for i in range(self.args.burst // 2)]

        self.step(1, "creates", creates, timeout)
        self.remember()

        def changes():
            m = objs["maak"]
            self.relink(2, "relink on its own", m[0])
            self.relink(2, "relink, then the klantcontact PATCHed", m[1], patch_after=True)
            self.delete_oo(2, "onderwerpobject deleted on its own", m[2])
            self.delete_oo(2, "onderwerpobject deleted with ?cascade=true", m[3], cascade=True)
            self.delete_kc(2, "klantcontact deleted", m[4])
            self.relink(2, "relink on its own", objs["sep"])
            # a label change: Open Zaak keeps the first label (DESIGN §3), checked at the end
            self.ok.call("PATCH", f"klantcontacten/{m[5]['kc']['uuid']}", {"onderwerp": "Vraag (bijgewerkt)"})
            burst = objs["burst"]
            relinks = self.rng.sample(burst, len(burst) // 3)
            rest = [b for b in burst if b not in relinks]
            for b in relinks:
                self.relink(2, "burst", b, patch_after=True)
            for b in rest[: len(burst) // 5]:
                self.delete_kc(2, "burst", b)

        self.step(2, "relinks and deletes", changes, timeout)
        self.remember()

        # In round b Open Notificaties has CloudEvents to retry: zaaklink comes back with its
        # default intervals, so that no early pass takes the retries' place.
        defaults_after = self.plan[3] == "defaults"

        def down():
            self.stop_serve()
            self.intervals = "defaults" if defaults_after else "shortened"
            t_down = time.time()
            m = objs["maak"]
            self.maak(3, "zaaklink down: maak-klantcontact", "Vraag tijdens storing", self.zaak())
            self.separate(3, "zaaklink down: klantcontact, then its onderwerpobject separately", "Terugbel tijdens storing", self.zaak())
            self.relink(3, "zaaklink down: relink on its own", m[6])
            self.delete_oo(3, "zaaklink down: onderwerpobject deleted on its own", m[7])
            self.relink(3, "zaaklink down: relink on its own", objs["sep2"])
            rest = max(0.0, t_down + self.args.down - time.time())
            time.sleep(rest)
            self.start_serve(defaults=defaults_after)
            return {"down_s": round(time.time() - t_down, 1), "down_from": t_down, "restarted_with": "its default intervals" if defaults_after else "the shortened intervals"}

        self.step(3, f"zaaklink down for {self.args.down} s while changes are made", down, timeout + self.args.down)
        self.remember()

        # Changes back to back (issue 24): a burst over a head page, relinks, and deletes of
        # older objects in consecutive head polls. Objects whose labels are checked stay.
        keep = (objs["maak"][5], objs["long"])
        pool = [o for o in self.linked if not any(o is k for k in keep)]
        b2b = {}

        def back_to_back():
            b2b.update(backtoback.run(self, pool, self.args.big_burst))
            return b2b

        self.step(4, f"back to back: a burst of {self.args.big_burst} creates (head page {backtoback.HEAD_PAGE_SIZE}), relinks, deletes off the head page in consecutive head polls",
                  back_to_back, timeout + 300)
        self.steps[-1]["big_burst_visible_after_last_s"] = backtoback.burst_visible_after_last(self, 4, b2b)
        self.steps[-1].pop("big_burst_last_t", None)
        self.remember()

        problems, per_zaak, expected, objects = self.compare_all(60)
        self.result["per_zaak"] = per_zaak
        self.result["problems"] = problems
        self.result["equal"] = not problems
        # the label change of step 2: Open Zaak keeps the first label
        m5 = objs["maak"][5]["oo"]["url"]
        self.result["label_change"] = {
            "open_klant_now": (expected.get(m5) or {}).get("label_now"),
            "open_zaak": [zo.get("relatieomschrijving") for objs_ in objects.values() for zo in objs_ if zo.get("object") == m5],
        }
        long_oo = objs["long"]["oo"]["url"]
        self.result["long_label"] = [zo.get("relatieomschrijving") for objs_ in objects.values() for zo in objs_ if zo.get("object") == long_oo]
        self.announced = {oo: {"zaak": e["zaak"], "label": e["label"]} for oo, e in expected.items()}
        json.dump(self.announced, open(self.announced_file, "w"))
        if problems:
            raise Failure(f"round {self.mode}: Open Zaak does not match Open Klant:\n  " + "\n  ".join(problems[:20]))
        self.result["upstream"] = self.upstream_evidence(t_round)
        self.result["answers_503"] = self.answers_503(t_round)
        # every round ends with `zaaklink audit` = equal (serve stopped, same state and sink)
        self.stop_serve()
        self.result["audit"] = audit.round_end(self)
        if self.args.final:
            self.final()
        self.result["round_s"] = round(time.time() - t_round, 1)
        errors = self.error_lines(t_round)
        self.result["error_lines"] = errors
        if errors:
            raise Failure(f"round {self.mode}: zaaklink logged {sum(errors.values())} ERROR line(s) no step provoked: " + "; ".join(f"{k} ×{n}" for k, n in errors.items()))
        if self.result["audit"].get("exit") != 0:
            raise Failure(f"round {self.mode}: `zaaklink audit` at the round's end: {self.result['audit'].get('verdict')}")

    def remember(self):
        for c in self.changes:
            if c["target"]:
                self.announced[c["oo"]] = {"zaak": c["target"], "label": c["label"]}
            else:
                self.announced.pop(c["oo"], None)

    def answers_503(self, t_from):
        """zaaklink's 503 answers to Open Notificaties this round (issue 24's target: 0)."""
        recs = [r for r in self.tap_since(t_from) if r.get("status") == 503]
        return {"count": len(recs), "what": [{"type": r.get("type") or r.get("kanaal"), "linkTo": r.get("linkTo"), "body": (r.get("answer") or "")[:300]} for r in recs[:10]]}

    def error_lines(self, t_from):
        """zaaklink's ERROR lines since `t_from` in the logs of serve, resync and the audits
        no step provoked on purpose: {message: count}. Any fails the round."""
        out = {}
        for name in ("zaaklink-serve.log", "zaaklink-resync.log", "zaaklink-audit.log"):
            for rec in read_jsonl(os.path.join(self.args.logs, name)):
                at = parse_ts(rec.get("timestamp"))
                if rec.get("level") != "ERROR" or (at is not None and at < t_from - 1):
                    continue
                fields = rec.get("fields") or {}
                key = f"{name}: {fields.get('message', '?')}" + (f" ({fields['status']})" if "status" in fields else "")
                out[key] = out.get(key, 0) + 1
        return out

    def final(self):
        self.stop_serve()
        print("-- Open Zaak damaged through its API; `zaaklink audit` finds it, `--repair` mends it", flush=True)
        self.result["damage"] = {}
        damage_error = None
        try:
            audit.damage_and_repair(self, self.result["damage"])
        except Exception as e:  # noqa: BLE001 — the resync and the probes still run; then it fails
            damage_error = f"{type(e).__name__}: {e}"
            self.result["damage"].setdefault("verdict", "NOT as required")
            self.result["damage"].setdefault("problems", [damage_error])
            print(f"   {damage_error}", flush=True)
        print("-- a full `zaaklink resync` after all of it changes nothing", flush=True)
        with open(os.path.join(self.args.logs, "zaaklink-resync.log"), "a") as log:
            p = subprocess.run([self.args.zaaklink, "resync"], stdout=log, stderr=subprocess.PIPE, text=True, timeout=600)
            log.write(p.stderr)
        if p.returncode != 0:
            raise Failure(f"zaaklink resync failed ({p.returncode}): {p.stderr.strip()[-800:]}")
        summary = ([line for line in p.stderr.strip().splitlines() if line.strip()][-1:] or [""])[0][:300]
        self.result["final_resync"] = summary
        if not re.search(r"\b0 changed, 0 events emitted", summary):
            raise Failure(f"the final resync found work the round had not done: {summary}")
        self.result["checks"] = {
            "Open Zaak dropped events (`incoming_cloud_event_error` in its log)": count_in(self.args.oz_log, "incoming_cloud_event_error"),
        }
        # zaaklink's warnings and errors over the run are shown here; an ERROR line that no
        # step provoked fails its round (Runner.error_lines)
        self.result["zaaklink_log"] = log_levels([self.serve_log] + [os.path.join(self.args.logs, n) for n in ("zaaklink-resync.log", "zaaklink-audit.log")])
        self.result["zaaklink_log_provoked"] = log_levels([os.path.join(self.args.logs, "zaaklink-audit-damaged.log")])
        print("-- probes of DESIGN §8's facts", flush=True)
        self.result["probes"] = probes.run(
            self.ok, self.args.oz_root, os.environ["OPEN_ZAAK_CLIENT_ID"], os.environ["OPEN_ZAAK_SECRET"], self.oz, self.probe_zaak
        )
        wrong = [p for p in self.result["probes"] if not p["ok"]]
        print(f"   {len(self.result['probes']) - len(wrong)} of {len(self.result['probes'])} as stated", flush=True)
        bad = {k: v for k, v in self.result["checks"].items() if v}
        if bad:
            raise Failure(f"after the rounds: {bad} (see the logs)")
        if wrong:
            raise Failure("facts of DESIGN §8 not as stated: " + "; ".join(f"{p['fact']}: expected {p['expected']}, got {p['actual']}" for p in wrong))
        if damage_error:
            raise Failure(f"zaaklink audit against the damaged Open Zaak: {damage_error}")


def log_levels(paths):
    """{"ERROR: <message>": count, "WARN: …": …} from zaaklink's JSON logs."""
    out = {}
    for path in paths:
        for rec in read_jsonl(path):
            if rec.get("level") in ("ERROR", "WARN"):
                fields = rec.get("fields") or {}
                key = f"{rec['level']}: {fields.get('message', '?')}" + (f" ({fields['status']})" if "status" in fields else "")
                out[key] = out.get(key, 0) + 1
    return out


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def main():
    p = argparse.ArgumentParser()
    for a in ("ok-root", "oz-root", "on-root", "zaken", "tap", "tap-url", "tap-log", "zaaklink", "pids", "logs", "oz-log", "on-log", "ok-celery-log", "out"):
        p.add_argument(f"--{a}", required=True)
    p.add_argument("--mode", choices=("a", "b"), required=True)
    p.add_argument("--final", action="store_true")
    p.add_argument("--burst", type=int, default=30)
    p.add_argument("--down", type=int, default=60)
    p.add_argument("--pass-interval", default="")
    p.add_argument("--settle", type=float, default=float(os.environ.get("INTEROP_SETTLE", "20")))
    p.add_argument("--big-burst", type=int, default=int(os.environ.get("INTEROP_BIG_BURST", "250")))
    p.add_argument("--step-timeout", type=int, default=int(os.environ.get("INTEROP_STEP_TIMEOUT", "300")))
    args = p.parse_args()
    r = Runner(args)
    error = None
    try:
        r.run()
    except Exception as e:  # noqa: BLE001 — reported, then the run fails
        error = f"{type(e).__name__}: {e}"
        print(f"interop round {args.mode}: {error}", flush=True)
    finally:
        r.stop_serve()
        r.result["error"] = error
        with open(args.out, "w") as f:
            json.dump(r.result, f, indent=1)
    if error:
        raise SystemExit(f"interop scenarios: {error}")


if __name__ == "__main__":
    main()
