"""`zaaklink audit` against the real Open Zaak and Open Klant (issue 23 item 7), stdlib only.

- Every round ends with `zaaklink audit` = equal (exit 0), run like the final `zaaklink
  resync`: `serve` stopped, the same state file and sink.
- After the last round the runner damages Open Zaak directly through its API:
  1. deletes one of zaaklink's ZaakObjects                          -> `missing`;
  2. adds a stray one: an existing onderwerpobject on a wrong zaak   -> `stray`;
  3. duplicates one (an identical second POST, which Open Zaak takes) -> `duplicated`;
  4. adds one for an unrelated URL that Open Zaak can GET (a klantcontact of Open Klant:
     under OPEN_KLANT_API_ROOT, but no onderwerpobject)               -> never reported.
  `zaaklink audit` must report exactly 1-3, `zaaklink audit --repair` mend them, a second audit
  be equal (exit 0), and the unrelated ZaakObject stay untouched.

The audit's exit status: 0 equal, 1 differences, 2 a side could not be read. Its JSON report
(`--format json`, docs/OPERATIONS.md "The audit") is kept whole in the results; the runner
reads the count per kind and the URLs each example names.
"""

import json
import os
import subprocess
import time

from clients import request, zgw_jwt

LINK_OBJECT_TYPE = "Onderwerpobject"
# kinds that count towards the exit status (label differences are report only)
COUNTED = ("missing", "stray", "duplicated", "malformed")
REPORT_ONLY = ("labelDifferent",)


def available(zaaklink):
    p = subprocess.run([zaaklink, "audit", "--help"], capture_output=True, text=True, timeout=60)
    return p.returncode == 0


def run(runner, flags, log_name="zaaklink-audit.log", what=""):
    """One `zaaklink audit` with `flags` (JSON report on stdout, logs appended to log_name)."""
    cmd = [runner.args.zaaklink, "audit", "--format", "json", *flags]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    secs = round(time.time() - t0, 1)
    with open(os.path.join(runner.args.logs, log_name), "a") as log:
        log.write(json.dumps({"timestamp": now_iso(), "interop": f"round {runner.mode}: {' '.join(cmd[1:])} ({what})"}) + "\n")
        log.write(p.stderr)
    try:
        report = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        report = {"unparsed stdout": p.stdout[-2000:]}
    out = {"command": "zaaklink " + " ".join(cmd[1:]), "what": what, "exit": p.returncode, "seconds": secs, "report": report}
    out["kinds"] = kinds(report)
    out["stderr_tail"] = [line for line in p.stderr.strip().splitlines() if line.strip()][-3:]
    print(f"   {out['command']}: exit {p.returncode}, {secs} s, differences {out['kinds']}", flush=True)
    return out


def differences(report):
    """The examples of every kind in the audit's JSON report (docs/OPERATIONS.md, "The audit"):
    `{"differences": {kind: {"count": n, "examples": [...]}}}`."""
    if not isinstance(report, dict) or not isinstance(report.get("differences"), dict):
        return []
    out = []
    for kind, v in report["differences"].items():
        for d in (v or {}).get("examples") or []:
            if isinstance(d, dict):
                out.append(dict(d, kind=d.get("kind") or kind))
    return out


def kinds(report):
    """{kind: count} of the kinds that were found (count > 0)."""
    if not isinstance(report, dict) or not isinstance(report.get("differences"), dict):
        return {}
    return {k: v.get("count", 0) for k, v in report["differences"].items() if isinstance(v, dict) and v.get("count")}


def counted(kinds_):
    return {k: n for k, n in kinds_.items() if k in COUNTED}


def names(d):
    """Every URL string a difference names (Open Klant's and Open Zaak's side)."""
    out = set()

    def walk(x):
        if isinstance(x, str) and x.startswith("http"):
            out.add(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(d)
    return out


def round_end(runner):
    print(f"-- round {runner.mode}: `zaaklink audit` (serve stopped) must find Open Zaak equal", flush=True)
    if not available(runner.args.zaaklink):
        return {"exit": None, "verdict": "not run: this zaaklink has no `audit` command"}
    a = run(runner, [], what="the round's end")
    a["verdict"] = "equal" if a["exit"] == 0 else f"exit {a['exit']}: {counted(a['kinds']) or a['stderr_tail']}"
    return a


# ---------------------------------------------------------------------- Open Zaak's own API
class Zaakobjecten:
    """POST and DELETE of ZaakObjects as another client of Open Zaak (the runner's reader
    Applicatie, with every autorisatie)."""

    def __init__(self, runner):
        self.root = runner.args.oz_root.rstrip("/")
        self.id = os.environ["INTEROP_OZ_READER_ID"]
        self.secret = os.environ["INTEROP_OZ_READER_SECRET"]

    def headers(self):
        return {"Authorization": f"Bearer {zgw_jwt(self.id, self.secret)}", "Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}

    def post(self, zaak_url, obj, label, object_type_overige=LINK_OBJECT_TYPE):
        body = {"zaak": zaak_url, "object": obj, "objectType": "overige", "objectTypeOverige": object_type_overige, "relatieomschrijving": label}
        st, data = request("POST", f"{self.root}/zaken/api/v1/zaakobjecten", body, self.headers())
        if st != 201:
            raise RuntimeError(f"Open Zaak POST zaakobjecten {body}: {st} {json.dumps(data)[:400]}")
        return data

    def delete(self, url):
        st, data = request("DELETE", url, None, self.headers())
        if st != 204:
            raise RuntimeError(f"Open Zaak DELETE {url}: {st} {json.dumps(data)[:400]}")

    def get(self, url):
        return request("GET", url, None, self.headers())


def damage_and_repair(runner, out):
    """Damages Open Zaak, then audit, audit --repair, audit again. Fills `out` with the
    evidence as it goes; raises when the audit does not find exactly the damage, or the repair
    does not end equal."""
    out["available"] = available(runner.args.zaaklink)
    if not out["available"]:
        out["verdict"] = "not run: this zaaklink has no `audit` command"
        raise RuntimeError(out["verdict"])
    oz = Zaakobjecten(runner)
    expected = runner.expected()
    objects = runner.oz.all_objects(runner.zaken)
    by_obj = {}
    for zaak_uuid, zos in objects.items():
        for zo in zos:
            by_obj.setdefault(zo.get("object"), []).append((zaak_uuid, zo))
    # onderwerpobjecten with exactly their one relation, oldest in Open Klant's list last
    single = [oo for oo, e in expected.items() if [z for z, _ in by_obj.get(oo, [])] == [e["zaak"]]]
    if len(single) < 3:
        raise RuntimeError(f"too few linked onderwerpobjecten to damage ({len(single)})")
    victim, strayed, doubled = single[0], single[1], single[2]
    zaak_url = runner.zaak_urls
    wrong_zaak = next(z["uuid"] for z in runner.zaken if z["uuid"] != expected[strayed]["zaak"])
    victim_zo = by_obj[victim][0][1]
    doubled_zo = by_obj[doubled][0][1]
    kc_url = runner.ok.call("GET", strayed)["klantcontact"]["url"]

    oz.delete(victim_zo["url"])
    stray_zo = oz.post(zaak_url[wrong_zaak], strayed, expected[strayed]["label"])
    dup_zo = oz.post(doubled_zo["zaak"], doubled, doubled_zo.get("relatieomschrijving") or "")
    unrelated_zo = oz.post(zaak_url[runner.zaken[0]["uuid"]], kc_url, "interop: a klantcontact, no onderwerpobject", object_type_overige="Klantcontact")
    out["damage"] = [
        {"what": "deleted one of zaaklink's ZaakObjects", "kind": "missing", "object": victim, "zaak": expected[victim]["zaak"], "zaakobject": victim_zo["url"]},
        {"what": "added a stray one: the onderwerpobject on a wrong zaak", "kind": "stray", "object": strayed, "zaak": wrong_zaak, "zaakobject": stray_zo["url"]},
        {"what": "duplicated one (an identical second POST)", "kind": "duplicated", "object": doubled, "zaak": expected[doubled]["zaak"], "zaakobject": dup_zo["url"]},
        {"what": "added one for an unrelated URL (a klantcontact of Open Klant)", "kind": None, "object": kc_url, "zaak": runner.zaken[0]["uuid"], "zaakobject": unrelated_zo["url"]},
    ]
    for d in out["damage"]:
        print(f"   damage: {d['what']}: {d['object']}", flush=True)

    # 1. the audit finds exactly the first three (its ERROR lines, if any, are provoked here)
    found = run(runner, [], log_name="zaaklink-audit-damaged.log", what="after the damage")
    out["audit"] = found
    want = {
        "missing": {victim},
        "stray": {strayed, zaak_url[wrong_zaak], stray_zo["url"]},
        "duplicated": {doubled, dup_zo["url"], doubled_zo["url"]},
    }
    got = {}
    for d in differences(found["report"]):
        got.setdefault(d["kind"], []).append(d)
    problems = []
    if found["exit"] != 1:
        problems.append(f"audit after the damage exited {found['exit']}, expected 1")
    counts = counted(found["kinds"])
    if counts != {k: 1 for k in want}:
        problems.append(f"counted differences {counts}, expected one each of {sorted(want)}")
    for kind, urls in want.items():
        ds = got.get(kind, [])
        if len(ds) != 1 or not urls <= names(ds[0]):
            problems.append(f"{kind}: expected one example naming {sorted(urls)}, got {len(ds)}: {json.dumps(ds)[:400]}")
    if any(kc_url in names(d) or unrelated_zo["url"] in names(d) for ds in got.values() for d in ds):
        problems.append("the unrelated ZaakObject (a klantcontact URL) was reported")

    # 2. --repair, then 3. a second audit: equal
    out["repair"] = run(runner, ["--repair"], what="--repair")
    if out["repair"]["exit"] != 0:
        problems.append(f"audit --repair exited {out['repair']['exit']} (1: differences left unmended)")
    out["after"] = again = run(runner, [], what="after the repair")
    deadline = time.time() + 60
    while again["exit"] != 0 and time.time() < deadline:
        time.sleep(5)  # the correcting events may still be on their way through deliver
        out["after"] = again = run(runner, [], what="after the repair, again")
    if again["exit"] != 0:
        problems.append(f"the audit after the repair exited {again['exit']}: {counted(again['kinds'])}")

    # the unrelated ZaakObject untouched; Open Zaak equal to Open Klant again (the scenarios'
    # own comparison, without the unrelated one)
    st, zo = oz.get(unrelated_zo["url"])
    untouched = st == 200 and isinstance(zo, dict) and zo.get("object") == kc_url and zo.get("relatieomschrijving") == unrelated_zo.get("relatieomschrijving")
    out["unrelated_untouched"] = untouched
    if not untouched:
        problems.append(f"the unrelated ZaakObject changed: {st} {json.dumps(zo)[:300]}")
    problems_cmp = runner.compare_now(ignore={unrelated_zo["url"]})
    out["equal_after"] = not problems_cmp
    if problems_cmp:
        problems.append("Open Zaak vs Open Klant after the repair: " + "; ".join(problems_cmp[:5]))
    oz.delete(unrelated_zo["url"])  # tidy: the probes and any later check see only zaaklink's
    out["problems"] = problems
    out["verdict"] = "as required" if not problems else "NOT as required"
    if problems:
        raise RuntimeError("audit after damage: " + "; ".join(problems))


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
