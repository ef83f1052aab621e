"""Seed Open Klant for scripts/interop (run with Open Klant's venv and settings).

- an API token (TokenAuth row) for zaaklink and the scenario runner;
- notifications: a zgw-consumers Service (api type nrc, ZGW client id + secret) pointing at
  the real Open Notificaties, set as the NotificationsConfig's notifications API (its
  notifications go to {root}notificaties; with ENABLE_CLOUD_EVENTS its cloud events to
  {root}cloudevents).
Reads INTEROP_OK_TOKEN, INTEROP_ON_ROOT, INTEROP_ON_CLIENT_ID, INTEROP_ON_CLIENT_SECRET;
prints a JSON summary.
"""

import json
import os

import django

django.setup()

from notifications_api_common.models import NotificationsConfig  # noqa: E402
from zgw_consumers.constants import APITypes, AuthTypes  # noqa: E402
from zgw_consumers.models import Service  # noqa: E402

from openklant.components.token.models import TokenAuth  # noqa: E402

token = os.environ["INTEROP_OK_TOKEN"]
TokenAuth.objects.update_or_create(
    identifier="zaaklink-interop",
    defaults={
        "token": token,
        "contact_person": "zaaklink interop",
        "email": "interop@example.invalid",
        "organization": "zaaklink",
    },
)

service, _ = Service.objects.update_or_create(
    slug="interop-notificaties",
    defaults={
        "label": "Open Notificaties (interop)",
        "api_type": APITypes.nrc,
        "api_root": os.environ["INTEROP_ON_ROOT"],
        "auth_type": AuthTypes.zgw,
        "client_id": os.environ["INTEROP_ON_CLIENT_ID"],
        "secret": os.environ["INTEROP_ON_CLIENT_SECRET"],
    },
)
config = NotificationsConfig.get_solo()
config.notifications_api_service = service
config.save()

print(json.dumps({"token": "zaaklink-interop", "notifications_service": service.api_root}))
