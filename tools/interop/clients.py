"""HTTP clients for the interop runner (stdlib only): Open Klant's klantinteracties API,
Open Zaak's zaken API (ZGW JWT), and the two sides of the comparison."""

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

LINK_OBJECT_TYPE = "Onderwerpobject"  # DESIGN §4: data.linkObjectType
LABEL_MAX_CHARS = 80  # DESIGN §2: zaaklink's default, Open Zaak's limit


class HttpError(Exception):
    pass


def request(method, url, body=None, headers=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    hdrs = {"Accept": "application/json"}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return status, parsed


def expect(status, data, want, what):
    if status not in want:
        raise HttpError(f"{what}: HTTP {status}, expected {want}: {json.dumps(data)[:600]}")
    return data


def label_form(kc):
    """Open Klant's string form of a klantcontact, cut as zaaklink cuts it (DESIGN §2)."""
    onderwerp = kc.get("onderwerp") or ""
    nummer = kc.get("nummer") or ""
    label = f"{onderwerp} - ({nummer})" if nummer else onderwerp
    return label[:LABEL_MAX_CHARS]


class OpenKlant:
    def __init__(self, root, token):
        self.root = root if root.endswith("/") else root + "/"
        self.auth = {"Authorization": f"Token {token}"}
        self.calls = 0

    def call(self, method, path, body=None, want=(200,), what=None):
        url = path if path.startswith("http") else self.root + path
        self.calls += 1
        status, data = request(method, url, body, self.auth)
        return expect(status, data, want, what or f"Open Klant {method} {url}")

    def links(self):
        """Every onderwerpobject that links a zaak by Open Klant's rule (DESIGN §2):
        {onderwerpobject url: {"zaak": objectId, "klantcontact": url}}."""
        out, page = {}, 1
        while True:
            q = urllib.parse.urlencode(
                {
                    "onderwerpobjectidentificatorCodeObjecttype": "zaak",
                    "onderwerpobjectidentificatorCodeSoortObjectId": "uuid",
                    "pageSize": 500,
                    "page": page,
                }
            )
            data = self.call("GET", f"onderwerpobjecten?{q}")
            for o in data["results"]:
                ident = o.get("onderwerpobjectidentificator") or {}
                if o.get("klantcontact") and ident.get("objectId"):
                    out[o["url"]] = {"zaak": ident["objectId"], "klantcontact": o["klantcontact"]["url"]}
            if not data.get("next"):
                return out
            page += 1


def zgw_jwt(client_id, secret):
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(
        json.dumps(
            {
                "iss": client_id,
                "client_id": client_id,
                "iat": int(time.time()),
                "user_id": "interop",
                "user_representation": "interop",
            }
        ).encode()
    )
    signing = f"{header}.{claims}".encode()
    sig = b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest())
    return f"{header}.{claims}.{sig}"


class OpenZaak:
    def __init__(self, root, client_id, secret):
        self.root = root.rstrip("/")
        self.client_id = client_id
        self.secret = secret

    def zaakobjecten(self, zaak_url):
        headers = {
            "Authorization": f"Bearer {zgw_jwt(self.client_id, self.secret)}",
            "Accept-Crs": "EPSG:4326",
            "Content-Crs": "EPSG:4326",
        }
        url = f"{self.root}/zaken/api/v1/zaakobjecten?" + urllib.parse.urlencode({"zaak": zaak_url})
        out = []
        while url:
            status, data = request("GET", url, None, headers)
            expect(status, data, (200,), f"Open Zaak GET {url}")
            if isinstance(data, list):
                out.extend(data)
                url = None
            else:
                out.extend(data["results"])
                url = data.get("next")
        return out

    def all_objects(self, zaken):
        """{zaak uuid: [ZaakObject, …]} for the seeded zaken."""
        return {z["uuid"]: self.zaakobjecten(z["url"]) for z in zaken}


def compare(expected, oz_objects, zaak_urls):
    """expected: {oo url: {"zaak": uuid, "label": str}}; oz_objects: {zaak uuid: [ZaakObject]}.
    Returns a list of problems (empty = equal): missing, duplicated, unexpected, wrong fields."""
    problems = []
    seen = Counter()
    for zaak_uuid, objs in oz_objects.items():
        for zo in objs:
            key = (zaak_uuid, zo.get("object"))
            seen[key] += 1
            exp = expected.get(zo.get("object"))
            if exp is None or exp["zaak"] != zaak_uuid:
                problems.append(f"unexpected ZaakObject on zaak {zaak_uuid}: object {zo.get('object')}")
                continue
            if zo.get("zaak") != zaak_urls[zaak_uuid]:
                problems.append(f"ZaakObject {zo.get('url')}: zaak {zo.get('zaak')} != {zaak_urls[zaak_uuid]}")
            if zo.get("relatieomschrijving") != exp["label"]:
                problems.append(
                    f"ZaakObject {zo.get('url')}: relatieomschrijving {zo.get('relatieomschrijving')!r} != label {exp['label']!r}"
                )
            if zo.get("objectType") != "overige" or zo.get("objectTypeOverige") != LINK_OBJECT_TYPE:
                problems.append(
                    f"ZaakObject {zo.get('url')}: objectType {zo.get('objectType')!r}/{zo.get('objectTypeOverige')!r}, expected 'overige'/{LINK_OBJECT_TYPE!r}"
                )
    for oo, exp in expected.items():
        n = seen[(exp["zaak"], oo)]
        if n == 0:
            problems.append(f"missing ZaakObject: zaak {exp['zaak']} -> {oo}")
        elif n > 1:
            problems.append(f"duplicated ZaakObject ({n}x): zaak {exp['zaak']} -> {oo}")
    return problems
