"""Probes of the facts DESIGN §8 states about the real components (stdlib only).

Each probe asks the real Open Klant or Open Zaak one question and compares the answer with
what DESIGN §8 (and so the fakes in src/testkit/) says. Open Zaak probes work on a zaak of
their own and an onderwerpobject that links no zaak, so they never touch the scenarios' data.
"""

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid

from clients import OpenZaak, request, zgw_jwt


def cloudevent(ty, zaak_uuid, link_to, label, link_object_type="Onderwerpobject"):
    data = {"zaak": f"urn:uuid:{zaak_uuid}", "linkTo": link_to, "label": label}
    if link_object_type is not None:
        data["linkObjectType"] = link_object_type
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": f"nl.overheid.zaken.{ty}",
        "source": "urn:nld:oin:00000001234567890000:interop-probe",
        "datacontenttype": "application/json",
        "subject": zaak_uuid,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": data,
    }


def jwt_at(client_id, secret, iat):
    """A ZGW JWT with a chosen `iat` (zgw_jwt uses now)."""

    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    c = b64(json.dumps({"iss": client_id, "client_id": client_id, "iat": iat, "user_id": "", "user_representation": ""}).encode())
    s = b64(hmac.new(secret.encode(), f"{h}.{c}".encode(), hashlib.sha256).digest())
    return f"{h}.{c}.{s}"


def run(ok, oz_root, client_id, secret, reader: OpenZaak, probe_zaak):
    results = []

    def fact(component, what, expected, actual):
        results.append({"component": component, "fact": what, "expected": expected, "actual": actual, "ok": expected == actual})

    events = oz_root.rstrip("/") + "/events"
    ce_type = "application/cloudevents+json"

    def post(body, content_type=ce_type, token="fresh"):
        headers = {"Content-Type": content_type}
        if token == "fresh":
            headers["Authorization"] = f"Bearer {zgw_jwt(client_id, secret)}"
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(events, data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def objects():
        return reader.zaakobjecten(probe_zaak["url"])

    # an onderwerpobject Open Zaak can GET, which links no zaak (not in the comparison)
    kc = ok.call(
        "POST",
        "klantcontacten",
        {"nummer": "9999999999", "kanaal": "probe", "onderwerp": "probe", "inhoud": "probe",
         "indicatieContactGelukt": True, "taal": "nld", "vertrouwelijk": False, "plaatsgevondenOp": "2026-01-01T12:00:00Z"},
        want=(201,),
    )
    oo = ok.call(
        "POST",
        "onderwerpobjecten",
        {"klantcontact": {"uuid": kc["uuid"]}, "wasKlantcontact": None,
         "onderwerpobjectidentificator": {"codeObjecttype": "interop-probe", "codeSoortObjectId": "uuid", "objectId": probe_zaak["uuid"], "codeRegister": "probe"}},
        want=(201,),
    )
    link_to = oo["url"]
    z = probe_zaak["uuid"]

    # ---- Open Klant
    st, _ = request("GET", ok.root + "onderwerpobjecten?interopUnknown=1", None, ok.auth)
    fact("Open Klant", "unknown query parameter on a list", 400, st)
    st, _ = request("GET", ok.root + "onderwerpobjecten?expand=klantcontact", None, ok.auth)
    fact("Open Klant", "`expand` on /onderwerpobjecten", 400, st)
    st, _ = request("GET", ok.root + "onderwerpobjecten?pageSize=1&page=100000", None, ok.auth)
    fact("Open Klant", "a list page past the end", 404, st)
    st, body = request("GET", ok.root + "onderwerpobjecten?pageSize=2", None, ok.auth)
    fact("Open Klant", "`pageSize` honoured, `count` and `next` given", (200, 2, True), (st, len(body["results"]), bool(body.get("next"))))
    st, body = request("GET", ok.root + "onderwerpobjecten?pageSize=1000", None, ok.auth)
    fact("Open Klant", "`pageSize` above 500 is capped (not refused)", 200, st)
    st, _ = request("GET", ok.root + "onderwerpobjecten", None, {"Authorization": "Token wrong"})
    fact("Open Klant", "a wrong token", 401, st)
    st, _ = request("GET", ok.root + f"onderwerpobjecten/{uuid.uuid4()}", None, ok.auth)
    fact("Open Klant", "an unknown onderwerpobject", 404, st)
    st, body = request("GET", ok.root + f"klantcontacten/{kc['uuid']}?expand=gingOverOnderwerpobjecten", None, ok.auth)
    fact("Open Klant", "`expand=gingOverOnderwerpobjecten` on a klantcontact", (200, [link_to]),
         (st, [o["url"] for o in (body.get("_expand") or {}).get("gingOverOnderwerpobjecten", [])]))
    st, body = request("POST", ok.root + "klantcontacten",
                       {"nummer": "12ab", "kanaal": "x", "onderwerp": "x", "inhoud": "x", "indicatieContactGelukt": True,
                        "taal": "nld", "vertrouwelijk": False, "plaatsgevondenOp": "2026-01-01T12:00:00Z"}, ok.auth)
    fact("Open Klant", "a klantcontact `nummer` with letters", 400, st)

    # ---- Open Zaak POST /events
    ev = cloudevent("zaak-gekoppeld", z, link_to, "probe")
    st, _ = post(ev, token=None)
    fact("Open Zaak", "POST /events without Authorization", 403, st)
    st, _ = post(ev, content_type=ce_type + "; charset=utf-8")
    fact("Open Zaak", "POST /events with `; charset=utf-8` after the content type", 415, st)
    st, _ = post(ev, content_type="application/json")
    fact("Open Zaak", "POST /events as application/json", 415, st)
    st, _ = post(ev, token=jwt_at(client_id, secret, int(time.time()) - 2 * 3600))
    fact("Open Zaak", "a JWT whose `iat` is two hours old", 403, st)
    st, _ = post(ev, token=jwt_at(client_id, secret, int(time.time()) + 600))
    fact("Open Zaak", "a JWT whose `iat` is ten minutes ahead (counts as a delivery)", 202, st)
    st, _ = post(ev, token=jwt_at(client_id, "not-the-secret", int(time.time())))
    fact("Open Zaak", "a JWT signed with a wrong secret", 403, st)
    st, _ = post(b'{"not": "a cloudevent"}')
    fact("Open Zaak", "a body that is not a CloudEvent", 400, st)
    n0 = len(objects())
    fact("Open Zaak", "the future-`iat` gekoppeld created its ZaakObject", 1, n0)
    st, _ = post(cloudevent("zaak-gekoppeld", z, link_to, "probe"))
    fact("Open Zaak", "a repeated gekoppeld: 202 and a second ZaakObject", (202, 2), (st, len(objects())))
    st, _ = post(cloudevent("zaak-ontkoppeld", z, link_to, "whatever label"))
    fact("Open Zaak", "ontkoppeld deletes every ZaakObject of the zaak with that `object` (label ignored)", (202, 0), (st, len(objects())))
    st, _ = post(cloudevent("zaak-gekoppeld", z, link_to, "x" * 81))
    fact("Open Zaak", "a label of 81 characters: 202, dropped", (202, 0), (st, len(objects())))
    st, _ = post(cloudevent("zaak-gekoppeld", z, link_to, "é" * 80))
    fact("Open Zaak", "a label of 80 non-ASCII characters: created", (202, 1), (st, len(objects())))
    post(cloudevent("zaak-ontkoppeld", z, link_to, ""))
    st, _ = post(cloudevent("zaak-gekoppeld", z, link_to, "probe", link_object_type=None))
    fact("Open Zaak", "a gekoppeld without `linkObjectType`: 202, dropped", (202, 0), (st, len(objects())))
    st, _ = post(cloudevent("zaak-gekoppeld", str(uuid.uuid4()), link_to, "probe"))
    fact("Open Zaak", "a gekoppeld for an unknown zaak", 202, st)
    gone = ok.root + f"onderwerpobjecten/{uuid.uuid4()}"
    st, _ = post(cloudevent("zaak-gekoppeld", z, gone, "probe"))
    fact("Open Zaak", "a gekoppeld whose `linkTo` Open Klant answers 404: 202, dropped", (202, 0), (st, len(objects())))
    st, _ = post(cloudevent("zaak-gekoppeld", z, "http://127.0.0.1:9/onderwerpobjecten/" + str(uuid.uuid4()), "probe"))
    fact("Open Zaak", "a gekoppeld whose `linkTo` no Service covers: 202, dropped", (202, 0), (st, len(objects())))
    st, _ = post(cloudevent("zaak-gekoppeld", z, link_to, "probe"))
    url_zaak = probe_zaak["url"]
    zo = objects()
    fact("Open Zaak", "the ZaakObject's fields", (202, [(url_zaak, link_to, "probe", "overige", "Onderwerpobject")]),
         (st, [(o.get("zaak"), o.get("object"), o.get("relatieomschrijving"), o.get("objectType"), o.get("objectTypeOverige")) for o in zo]))
    ev_url = cloudevent("zaak-ontkoppeld", z, link_to, "")
    ev_url["data"]["zaak"] = url_zaak
    st, _ = post(ev_url)
    fact("Open Zaak", "ontkoppeld with the zaak as a URL", (202, 0), (st, len(objects())))

    ok.call("DELETE", f"klantcontacten/{kc['uuid']}", want=(204,))
    return results
