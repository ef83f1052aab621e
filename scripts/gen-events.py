#!/usr/bin/env python3
"""Regenerate the derived sample events under events/ from events/notifications/*.json.

events/notifications/   notification bodies as Open Notificaties POSTs them
events/openklant/       Open Klant objects (what GET returns) used by the demo and tests
events/function-url/    the same bodies wrapped as Lambda Function URL (payload v2) requests
events/apigw-rest/      one body wrapped as an API Gateway REST (payload v1) request
events/schedule/        the EventBridge scheduled events that run the sweep / resync / head poll
events/cloudevents/     CloudEvents as Open Notificaties 1.16.1 POSTs them (structured mode,
                        Content-Type application/cloudevents+json): notifications it transformed
                        (abonnement with sendCloudevents) and Open Klant's own zaak-gekoppeld /
                        zaak-ontkoppeld passed through (dataref dropped); keys in the order
                        Open Notificaties sends them (shortest first)
"""
import json, pathlib

root = pathlib.Path(__file__).resolve().parent.parent / "events"
AUTH = "Token demo-webhook-secret"  # sample only; matches WEBHOOK_AUTH in the examples of docs/LOCAL.md
n = root / "notifications"
oo = root / "openklant"

create = json.loads((n / "onderwerpobject-create.json").read_text())
for actie, name in [("update", "onderwerpobject-update"), ("partial_update", "onderwerpobject-partial-update"), ("destroy", "onderwerpobject-destroy")]:
    body = dict(create, actie=actie, aanmaakdatum="2025-10-10T10:00:00Z")
    (n / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
kc_destroy = json.loads((n / "klantcontact-destroy.json").read_text())
(n / "klantcontact-update.json").write_text(json.dumps(dict(kc_destroy, actie="update"), indent=2) + "\n")
(n / "ignored-other-kanaal.json").write_text(json.dumps({
    "kanaal": "zaken", "hoofdObject": "https://zaken.example.nl/zaken/api/v1/zaken/1",
    "resource": "zaak", "resourceUrl": "https://zaken.example.nl/zaken/api/v1/zaken/1",
    "actie": "create", "aanmaakdatum": "2025-10-10T00:00:00Z", "kenmerken": {}}, indent=2) + "\n")
(n / "malformed-missing-resourceUrl.json").write_text(json.dumps({
    "kanaal": "klantcontacten", "hoofdObject": create["hoofdObject"], "resource": "onderwerpobject",
    "actie": "create", "aanmaakdatum": "2025-10-10T00:00:00Z", "kenmerken": {}}, indent=2) + "\n")

zaak_a = json.loads((oo / "onderwerpobject-zaak-a.json").read_text())
zaak_b = json.loads(json.dumps(zaak_a))
zaak_b["onderwerpobjectidentificator"]["objectId"] = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
(oo / "onderwerpobject-zaak-b.json").write_text(json.dumps(zaak_b, indent=2) + "\n")
besluit = json.loads(json.dumps(zaak_a))
besluit["onderwerpobjectidentificator"] = {"objectId": "0f9e8d7c-6b5a-4938-a7b6-c5d4e3f2a1b0", "codeObjecttype": "besluit", "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}
(oo / "onderwerpobject-besluit.json").write_text(json.dumps(besluit, indent=2) + "\n")


def function_url(body: str, auth=AUTH, method="POST", content_type="application/json"):
    headers = {"content-type": content_type, "host": "abcdefghij.lambda-url.eu-west-1.on.aws",
               "user-agent": "python-requests/2.32.3"}
    if auth is not None:
        headers["authorization"] = auth
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefghij", "domainName": "abcdefghij.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abcdefghij", "requestId": "c7e1c3f5-0000-4000-8000-000000000001", "routeKey": "$default",
            "stage": "$default", "time": "10/Oct/2025:10:00:00 +0000", "timeEpoch": 1760090400000,
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10",
                     "userAgent": "python-requests/2.32.3"}},
        "body": body, "isBase64Encoded": False}


fu = root / "function-url"
text = lambda name: (n / f"{name}.json").read_text()
cases = {
    "link-created": function_url(text("onderwerpobject-create")),
    "duplicate-delivery": function_url(text("onderwerpobject-create")),
    "relinked": function_url(text("onderwerpobject-update")),
    "changed-to-non-zaak": function_url(text("onderwerpobject-partial-update")),
    "deleted": function_url(text("onderwerpobject-destroy")),
    "klantcontact-deleted": function_url(text("klantcontact-destroy")),
    "ignored-other-kanaal": function_url(text("ignored-other-kanaal")),
    "unauthenticated": function_url(text("onderwerpobject-create"), auth="Token wrong"),
    "missing-authorization": function_url(text("onderwerpobject-create"), auth=None),
    "malformed": function_url(text("malformed-missing-resourceUrl")),
    "not-json": function_url("{\"kanaal\": \"klantcontacten\", "),
    "method-not-allowed": function_url("", method="GET"),
}

# events/cloudevents/: what Open Notificaties 1.16.1 POSTs to a CloudEvents abonnement.
ce = root / "cloudevents"
ce.mkdir(exist_ok=True)
kc_url = kc_destroy["resourceUrl"]
kc_uuid = kc_url.rstrip("/").rsplit("/", 1)[-1]
oo_url = create["resourceUrl"]
zaak_a_id = zaak_a["onderwerpobjectidentificator"]["objectId"]
label = json.loads((oo / "klantcontact.json").read_text())["onderwerp"]
OK_SOURCE = "urn:nld:oin:01823288444:openklant"  # Open Klant's NOTIFICATIONS_SOURCE in the examples
def ordered(d):
    """Postgres jsonb key order, as Open Notificaties re-sends a stored message: shortest key first."""
    return {k: ordered(v) if isinstance(v, dict) else v for k, v in sorted(d.items(), key=lambda kv: (len(kv[0]), kv[0]))}
def transformed(actie, event_id, time):
    # kenmerken arrive as strings (Open Notificaties 1.16.1 refuses other types), plus hoofdObject
    return ordered({"id": event_id, "source": OK_SOURCE, "specversion": "1.0",
                    "type": f"nl.overheid.klantcontacten.klantcontact.{actie}", "subject": kc_uuid, "time": time,
                    "datacontenttype": "application/json",
                    "data": dict(kc_destroy["kenmerken"], hoofdObject=kc_url)})
def link_event(kind, event_id, time):
    # Open Klant 2.18's own event (notifications-api-common): dataref null, dropped by Open Notificaties
    return ordered({"id": event_id, "source": OK_SOURCE, "specversion": "1.0",
                    "type": f"nl.overheid.zaken.zaak-{kind}", "subject": zaak_a_id, "time": time,
                    "datacontenttype": "application/json",
                    "data": {"zaak": f"urn:uuid:{zaak_a_id}", "linkTo": oo_url, "label": label,
                             "linkObjectType": "Onderwerpobject"}})
ces = {
    "klantcontact-create": transformed("create", "743bd3ff-0d66-4740-bd9b-04b125994299", "2025-10-10T00:00:00Z"),
    "klantcontact-update": transformed("update", "0b6f2a52-5f0e-4c4e-9d0a-6a1f3c2e7b10", "2025-10-10T10:00:00Z"),
    "klantcontact-destroy": transformed("destroy", "5d3c9e8a-1b2f-4a6d-8e7c-9f0a1b2c3d4e", "2025-10-11T08:30:00Z"),
    "zaak-gekoppeld": link_event("gekoppeld", "5ff3dd99-ce75-4d5d-82fa-4e44c3da1ff5", "2025-10-10T00:00:01Z"),
    "zaak-ontkoppeld": link_event("ontkoppeld", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "2025-10-10T10:00:01Z"),
    "ignored-other-type": ordered({"id": "2c1d0e9f-8a7b-4c6d-9e5f-4a3b2c1d0e9f", "source": OK_SOURCE,
                                   "specversion": "1.0", "type": "nl.overheid.zaken.zaak.create",
                                   "subject": zaak_a_id, "time": "2025-10-10T00:00:00Z",
                                   "datacontenttype": "application/json",
                                   "data": {"hoofdObject": "https://zaken.example.nl/zaken/api/v1/zaken/1"}}),
}
hostile = link_event("gekoppeld", "6e5d4c3b-2a19-4807-b6a5-948372615f0e", "2025-10-10T00:00:02Z")
hostile["data"]["linkTo"] = "http://169.254.169.254/klantinteracties/api/v1/onderwerpobjecten/5fee9673-216c-41e7-91d2-69a8d1526b9f"
ces["hostile-linkto-outside-root"] = hostile
for name, body in ces.items():
    (ce / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
# the test notification Open Notificaties POSTs twice when an abonnement is saved (without,
# then with its auth), also to a CloudEvents abonnement: classic, application/json
(n / "test-callback.json").write_text(json.dumps({
    "kanaal": "test", "hoofdObject": "http://some.hoofdobject.nl/", "resource": "some_resource",
    "resourceUrl": "http://some.resource.nl/", "actie": "create", "aanmaakdatum": "2019-01-01T12:00:00Z",
    "kenmerken": {}}, indent=2) + "\n")
CE_TYPE = "application/cloudevents+json"
cetext = lambda name: (ce / f"{name}.json").read_text()
cases.update({
    "ce-klantcontact-create": function_url(cetext("klantcontact-create"), content_type=CE_TYPE),
    "ce-zaak-gekoppeld": function_url(cetext("zaak-gekoppeld"), content_type=CE_TYPE),
    "ce-zaak-ontkoppeld": function_url(cetext("zaak-ontkoppeld"), content_type=CE_TYPE),
    "ce-ignored-other-type": function_url(cetext("ignored-other-type"), content_type=CE_TYPE),
    "ce-hostile-linkto-outside-root": function_url(cetext("hostile-linkto-outside-root"), content_type=CE_TYPE),
    "ce-batch": function_url("[" + cetext("zaak-gekoppeld") + "]", content_type="application/cloudevents-batch+json"),
})
for name, ev in cases.items():
    (fu / f"{name}.json").write_text(json.dumps(ev, indent=2) + "\n")

(root / "apigw-rest" / "link-created.json").write_text(json.dumps({
    "resource": "/", "path": "/", "httpMethod": "POST",
    "headers": {"Authorization": AUTH, "Content-Type": "application/json"},
    "multiValueHeaders": {"Authorization": [AUTH], "Content-Type": ["application/json"]},
    "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
    "stageVariables": None,
    "requestContext": {"accountId": "123456789012", "apiId": "1234567890", "httpMethod": "POST", "path": "/prod/",
                       "protocol": "HTTP/1.1", "requestId": "c7e1c3f5-0000-4000-8000-000000000002",
                       "resourceId": "abc123", "resourcePath": "/", "stage": "prod",
                       "identity": {"sourceIp": "192.0.2.10", "userAgent": "python-requests/2.32.3"}},
    "body": text("onderwerpobject-create"), "isBase64Encoded": False}, indent=2) + "\n")

for name, detail_type, resources in [("sweep", "Scheduled Event", ["arn:aws:events:eu-west-1:123456789012:rule/zaaklink-sweep"]),
                                     ("resync", "Scheduled Event", ["arn:aws:events:eu-west-1:123456789012:rule/zaaklink-resync"]),
                                     ("head", "Scheduled Event", ["arn:aws:events:eu-west-1:123456789012:rule/zaaklink-head"])]:
    (root / "schedule" / f"{name}.json").write_text(json.dumps({
        "version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": detail_type,
        "source": "aws.events", "account": "123456789012", "time": "2025-10-10T10:00:00Z", "region": "eu-west-1",
        "resources": resources, "detail": {"zaaklink": name}}, indent=2) + "\n")

# events/sqs/: what the `deliver` function receives from the delivery queue's event source
# mapping: an SQS batch whose message body is the EventBridge event the DeliveryRule put on the
# queue, its `detail` the CloudEvent (with `sequence`, which deliver removes before the POST).
import uuid

oo_uuid = create["resourceUrl"].rstrip("/").rsplit("/", 1)[-1]
link_to = create["resourceUrl"]
zaak_uuid = zaak_a["onderwerpobjectidentificator"]["objectId"]
source = "urn:nld:oin:01823288444:openklant"  # NOTIFICATIONS_SOURCE in the examples of docs/LOCAL.md
ce_type = "nl.overheid.zaken.zaak-gekoppeld"
ns = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/zaaklink/zaaklink/event-id")
cloudevent = {
    "specversion": "1.0", "id": str(uuid.uuid5(ns, f"{oo_uuid}/1/{ce_type}")), "type": ce_type,
    "source": source, "datacontenttype": "application/json", "subject": zaak_uuid,
    "time": "2025-10-10T10:00:00Z",
    "data": {"zaak": f"urn:uuid:{zaak_uuid}", "linkTo": link_to,
             "label": json.loads((oo / "klantcontact.json").read_text())["onderwerp"],
             "linkObjectType": "Onderwerpobject"},
    "sequence": "1"}
envelope = {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": ce_type,
            "source": source, "account": "123456789012", "time": "2025-10-10T10:00:00Z",
            "region": "eu-west-1", "resources": [], "detail": cloudevent}
body = json.dumps(envelope, separators=(",", ":"))
(root / "sqs").mkdir(exist_ok=True)
(root / "sqs" / "zaak-gekoppeld.json").write_text(json.dumps({"Records": [{
    "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
    "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
    "body": body,
    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1760090400000",
                   "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1760090400001"},
    "messageAttributes": {}, "md5OfBody": __import__("hashlib").md5(body.encode()).hexdigest(),
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:zaaklink-DeliveryQueue-EXAMPLE",
    "awsRegion": "eu-west-1"}]}, indent=2) + "\n")
