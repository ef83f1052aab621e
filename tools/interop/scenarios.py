"""The interop scenarios (stdlib only), run by scripts/interop once everything is up.

Each scenario changes Open Klant through its own API, lets the chain work (a notified change
through the stand-in and `zaaklink serve`; a silent one through `zaaklink resync`), then
compares Open Zaak's ZaakObjects of every seeded zaak with Open Klant's links. zaaklink is
started, stopped (by pid) and restarted here, around each resync, since serve and resync
share one state file.

Environment: INTEROP_OK_TOKEN, INTEROP_OZ_READER_ID, INTEROP_OZ_READER_SECRET, and the
zaaklink settings (WEBHOOK_AUTH, OPEN_KLANT_*, OPEN_ZAAK_*, ZAAKLINK_*, …) for the
zaaklink processes.
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request

import probes
from clients import OpenKlant, OpenZaak, compare, label_form


class Failure(Exception):
    pass


def count_in(path, needle):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(line.count(needle) for line in f)
    except OSError:
        return 0


class Runner:
    def __init__(self, args):
        self.args = args
        self.ok = OpenKlant(args.ok_root, os.environ["INTEROP_OK_TOKEN"])
        self.oz = OpenZaak(args.oz_root, os.environ["INTEROP_OZ_READER_ID"], os.environ["INTEROP_OZ_READER_SECRET"])
        seeded = json.load(open(args.zaken))
        self.zaken = seeded["zaken"]
        self.probe_zaak = seeded["probe_zaak"]
        self.probes = []
        self.checks = {}
        self.zaak_urls = {z["uuid"]: z["url"] for z in self.zaken}
        self.announced = {}  # oo url -> {"zaak", "label"}: what Open Zaak should hold (DESIGN §3)
        self.nummer = 1000000000
        self.serve = None
        self.results = []
        self.rng = random.Random(13)

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

    def start_serve(self):
        log = open(os.path.join(self.args.logs, "zaaklink-serve.log"), "a")
        self.serve = subprocess.Popen(
            [self.args.zaaklink, "serve"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self._record_pid("zaaklink", self.serve.pid)
        host, port = os.environ["ZAAKLINK_LISTEN"].rsplit(":", 1)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.serve.poll() is not None:
                raise Failure(f"zaaklink serve exited ({self.serve.returncode}); see logs/zaaklink-serve.log")
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise Failure("zaaklink serve did not listen within 30 s")

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
        self.serve = None

    def resync(self):
        """serve and resync share the state file: stop serve, run `zaaklink resync`, restart."""
        self.wait_standin_idle()
        self.stop_serve()
        t0 = time.time()
        with open(os.path.join(self.args.logs, "zaaklink-resync.log"), "a") as log:
            log.write(f"--- resync at {time.strftime('%H:%M:%S')}\n")
            log.flush()
            p = subprocess.run([self.args.zaaklink, "resync"], stdout=log, stderr=subprocess.PIPE, text=True, timeout=600)
            log.write(p.stderr)
        if p.returncode != 0:
            raise Failure(f"zaaklink resync failed ({p.returncode}): {p.stderr.strip()[-800:]}")
        summary = [line for line in p.stderr.strip().splitlines() if line.strip()][-1:] or [""]
        self.start_serve()
        return round(time.time() - t0, 1), summary[0][:300]

    # ------------------------------------------------------------------ stand-in
    def standin(self):
        with urllib.request.urlopen(self.args.standin + "/_interop/status", timeout=10) as r:
            return json.load(r)

    def wait_standin_idle(self, quiet=1.5, timeout=600):
        """Until nothing is pending and nothing new arrived for `quiet` seconds."""
        deadline = time.time() + timeout
        last, since = None, time.time()
        while time.time() < deadline:
            s = self.standin()
            key = (s["received"], s["pending"])
            if key != last:
                last, since = key, time.time()
            elif s["pending"] == 0 and time.time() - since >= quiet:
                return s
            time.sleep(0.25)
        raise Failure(f"the stand-in did not become idle within {timeout}s: {self.standin()}")

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

    def maak(self, onderwerp, zaak_uuid):
        body = {
            "klantcontact": self.kc_body(onderwerp),
            "onderwerpobject": {"wasKlantcontact": None, "onderwerpobjectidentificator": self.ident(zaak_uuid)},
        }
        data = self.ok.call("POST", "maak-klantcontact", body, want=(201,))
        return data["klantcontact"], data["onderwerpobject"]

    def new_kc(self, onderwerp):
        return self.ok.call("POST", "klantcontacten", self.kc_body(onderwerp), want=(201,))

    def new_oo(self, kc, zaak_uuid):
        body = {"klantcontact": {"uuid": kc["uuid"]}, "wasKlantcontact": None, "onderwerpobjectidentificator": self.ident(zaak_uuid)}
        return self.ok.call("POST", "onderwerpobjecten", body, want=(201,))

    def relink_oo(self, oo, zaak_uuid):
        return self.ok.call("PATCH", f"onderwerpobjecten/{oo['uuid']}", {"onderwerpobjectidentificator": self.ident(zaak_uuid)})

    def patch_kc(self, kc, **fields):
        return self.ok.call("PATCH", f"klantcontacten/{kc['uuid']}", fields)

    # ------------------------------------------------------------------ the comparison
    def expected(self):
        """Open Klant's links with the label Open Zaak must show: the one announced with the
        link's gekoppeld (kept while the zaak stays the same, DESIGN §3), else the current
        string form of the klantcontact (DESIGN §2)."""
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

    def converge(self, expected, timeout):
        t0 = time.time()
        while True:
            objects = self.oz.all_objects(self.zaken)
            problems = compare(expected, objects, self.zaak_urls)
            if not problems or time.time() - t0 > timeout:
                return problems, objects, round(time.time() - t0, 1)
            time.sleep(0.5)

    # ------------------------------------------------------------------ one scenario
    def scenario(self, name, path, action, touched_fn, timeout=90):
        print(f"-- {name}", flush=True)
        before = self.wait_standin_idle()
        t0 = time.time()
        calls0 = self.ok.calls
        action()
        ops_s = round(time.time() - t0, 1)
        calls = self.ok.calls - calls0
        row = {"name": name, "path": path, "api_calls": calls, "ops_s": ops_s}
        if path == "silent":
            after = self.wait_standin_idle(quiet=3)
            row["notifications"] = after["received"] - before["received"]
            expected = self.expected()
            problems_before = compare(expected, self.oz.all_objects(self.zaken), self.zaak_urls)
            row["before_resync"] = problems_before
            if row["notifications"] != 0:
                raise Failure(f"{name}: Open Klant sent {row['notifications']} notification(s) for a change DESIGN §8 calls silent")
            if not problems_before:
                raise Failure(f"{name}: Open Zaak already matched before the resync; the scenario proves nothing")
            row["resync_s"], row["resync_summary"] = self.resync()
            problems, objects, row["converge_s"] = self.converge(expected, timeout)
        elif path == "resync":
            row["notifications"] = 0
            row["resync_s"], row["resync_summary"] = self.resync()
            expected = self.expected()
            problems, objects, row["converge_s"] = self.converge(expected, 10)
        else:
            expected = None
            problems, objects = ["not checked"], None
            deadline = time.time() + timeout
            while problems and time.time() < deadline:
                expected = self.expected()
                problems, objects, _ = self.converge(expected, 2)
            row["converge_s"] = round(time.time() - t0 - ops_s, 1)
            after = self.wait_standin_idle()
            row["notifications"] = after["received"] - before["received"]
            # the stand-in may still have been delivering while Open Zaak already matched:
            # look once more after it is idle
            expected = self.expected()
            problems, objects, _ = self.converge(expected, 5)
        row["delivered_failed"] = self.standin()["failed"]
        row["problems"] = problems
        row["equal"] = not problems
        row["links"] = len(expected)
        row["zaakobjecten"] = sum(len(v) for v in objects.values())
        row["touched"] = self.side_by_side(touched_fn(), expected, objects)
        self.results.append(row)
        if problems:
            raise Failure(f"{name}: Open Zaak does not match Open Klant:\n  " + "\n  ".join(problems[:20]))
        self.announced = {oo: {"zaak": e["zaak"], "label": e["label"]} for oo, e in expected.items()}
        print(f"   equal: {len(expected)} links = {row['zaakobjecten']} ZaakObjecten ({row['converge_s']} s)", flush=True)

    def side_by_side(self, touched, expected, objects):
        by_object = {}
        for zaak_uuid, objs in objects.items():
            for zo in objs:
                by_object.setdefault(zo["object"], []).append(
                    {"zaak": zaak_uuid, "label": zo.get("relatieomschrijving"), "type": zo.get("objectTypeOverige")}
                )
        rows = []
        for oo in touched:
            rows.append({"oo": oo, "ok": expected.get(oo), "oz": by_object.get(oo, [])})
        return rows

    # ------------------------------------------------------------------ the scenarios
    def run(self):
        Z = [z["uuid"] for z in self.zaken]
        s = {}
        self.start_serve()

        def s1():
            s["kc1"], s["oo1"] = self.maak("Vraag over vergunning", Z[0])

        self.scenario("1. maak-klantcontact with a zaak onderwerpobject", "notified", s1, lambda: [s["oo1"]["url"]])

        s["kc2"] = self.new_kc("Terugbelverzoek")
        self.wait_standin_idle()

        def s2():
            s["oo2"] = self.new_oo(s["kc2"], Z[1])

        self.scenario("2. onderwerpobject created on its own (silent)", "silent", s2, lambda: [s["oo2"]["url"]])

        def s3():
            s["oo3"] = self.new_oo(s["kc1"], Z[2])
            self.patch_kc(s["kc1"], inhoud="tweede onderwerpobject")

        self.scenario(
            "3. second onderwerpobject, then the klantcontact PATCHed", "notified", s3, lambda: [s["oo1"]["url"], s["oo3"]["url"]]
        )

        def s4():
            self.relink_oo(s["oo3"], Z[3])
            self.patch_kc(s["kc1"], inhoud="relinked")

        self.scenario("4. relink (PATCH objectId to another zaak), then the klantcontact PATCHed", "notified", s4, lambda: [s["oo3"]["url"]])

        def s5():
            self.relink_oo(s["oo2"], Z[4])

        self.scenario("5. relink on its own (silent)", "silent", s5, lambda: [s["oo2"]["url"]])

        def s6():
            self.patch_kc(s["kc1"], onderwerp="Vraag over vergunning (bijgewerkt)")

        self.scenario(
            "6. label change (klantcontact onderwerp PATCHed): Open Zaak keeps the first label",
            "notified",
            s6,
            lambda: [s["oo1"]["url"], s["oo3"]["url"]],
        )

        def s7():
            s["kc7"], s["oo7"] = self.maak("Lange vraag " + "é" * 40 + " over de aanvraag " + "ü" * 40, Z[5])

        self.scenario("7. label over 80 characters (non-ASCII), cut to 80", "notified", s7, lambda: [s["oo7"]["url"]])

        def s8():
            self.ok.call("DELETE", f"onderwerpobjecten/{s['oo3']['uuid']}", want=(204,))

        self.scenario("8. onderwerpobject deleted (silent)", "silent", s8, lambda: [s["oo3"]["url"]])

        def s9():
            self.ok.call("DELETE", f"onderwerpobjecten/{s['oo2']['uuid']}?cascade=true", want=(200, 204))

        self.scenario("9. onderwerpobject deleted with ?cascade=true (silent)", "silent", s9, lambda: [s["oo2"]["url"]])

        def s10():
            self.ok.call("DELETE", f"klantcontacten/{s['kc1']['uuid']}", want=(204,))

        self.scenario("10. klantcontact deleted (its onderwerpobjecten go by cascade)", "notified", s10, lambda: [s["oo1"]["url"]])

        burst = []

        def s11():
            n = self.args.burst
            creates, relinks = n // 2, n // 3
            deletes = n - creates - relinks
            made = []
            for i in range(creates):
                made.append(self.maak(f"Burst {i}", self.rng.choice(Z)))
            for kc, oo in self.rng.sample(made, relinks):
                current = oo["onderwerpobjectidentificator"]["objectId"]
                target = self.rng.choice([z for z in Z if z != current])
                self.relink_oo(oo, target)
                oo["onderwerpobjectidentificator"]["objectId"] = target
                self.patch_kc(kc, inhoud=f"relinked to {target}")
            for kc, oo in self.rng.sample(made, deletes):
                self.ok.call("DELETE", f"klantcontacten/{kc['uuid']}", want=(204,))
            burst.extend(oo["url"] for _, oo in made[:3])
            s["burst_counts"] = {"creates": creates, "relinks": relinks, "klantcontact deletes": deletes}

        self.scenario(
            f"11. burst: {self.args.burst} changes (maak-klantcontact, relink + klantcontact PATCH, klantcontact delete)",
            "notified",
            s11,
            lambda: burst,
            timeout=900,
        )
        self.results[-1]["burst"] = s["burst_counts"]

        def s12():
            pass

        self.scenario("12. a full resync after all of it changes nothing", "resync", s12, lambda: burst[:1])
        summary = self.results[-1]["resync_summary"]
        if " 0 changed, 0 events emitted" not in summary:
            raise Failure(f"the final resync found work the notifications had not done: {summary}")

        self.wait_standin_idle()
        self.checks = {
            "Open Zaak dropped events (`incoming_cloud_event_error` in its log)": count_in(self.args.oz_log, "incoming_cloud_event_error"),
            "zaaklink warnings and errors (serve and resync logs)": count_in(
                os.path.join(self.args.logs, "zaaklink-serve.log"), '"level":"WARN'
            )
            + count_in(os.path.join(self.args.logs, "zaaklink-serve.log"), '"level":"ERROR')
            + count_in(os.path.join(self.args.logs, "zaaklink-resync.log"), '"level":"WARN')
            + count_in(os.path.join(self.args.logs, "zaaklink-resync.log"), '"level":"ERROR'),
        }
        bad = {k: v for k, v in self.checks.items() if v}
        if bad:
            raise Failure(f"after the scenarios: {bad} (see the logs)")

        print("-- probes of DESIGN §8's facts", flush=True)
        self.probes = probes.run(
            self.ok, self.args.oz_root, os.environ["OPEN_ZAAK_CLIENT_ID"], os.environ["OPEN_ZAAK_SECRET"], self.oz, self.probe_zaak
        )
        wrong = [p for p in self.probes if not p["ok"]]
        print(f"   {len(self.probes) - len(wrong)} of {len(self.probes)} as stated", flush=True)
        self.wait_standin_idle()
        self.stop_serve()
        if wrong:
            raise Failure("facts of DESIGN §8 not as stated: " + "; ".join(f"{p['fact']}: expected {p['expected']}, got {p['actual']}" for p in wrong))


def main():
    p = argparse.ArgumentParser()
    for a in ("ok-root", "oz-root", "zaken", "standin", "zaaklink", "pids", "logs", "oz-log", "out"):
        p.add_argument(f"--{a}", required=True)
    p.add_argument("--burst", type=int, default=300)
    args = p.parse_args()
    r = Runner(args)
    error = None
    try:
        r.run()
    except Exception as e:  # noqa: BLE001 — reported, then the run fails
        error = f"{type(e).__name__}: {e}"
    finally:
        r.stop_serve()
        with open(args.out, "w") as f:
            json.dump({"scenarios": r.results, "checks": r.checks, "probes": r.probes, "error": error, "standin": r.standin()}, f, indent=1)
    if error:
        raise SystemExit(f"interop scenarios: {error}")


if __name__ == "__main__":
    main()
