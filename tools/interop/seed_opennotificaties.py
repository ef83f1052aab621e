"""Seed Open Notificaties for scripts/interop (run with Open Notificaties' venv and settings).

- an Applicatie for Open Klant (JWTSecret client id + secret; autorisatie on component nrc
  with scope notificaties.publiceren: register kanalen, POST notificaties and cloudevents);
- an Applicatie for the operator who registers zaaklink's abonnementen through the API
  (scope notificaties.consumeren).
The autorisaties are checked for component nrc (as its setup_configuration sets). Nothing
else: its delivery settings (retries, backoff) stay as a fresh database has them.
Reads INTEROP_ON_CLIENT_ID/_SECRET and INTEROP_ON_OPERATOR_ID/_SECRET; prints a JSON summary
with the retry settings it found.
"""

import json
import os

import django

django.setup()

from notifications_api_common.models import NotificationsConfig  # noqa: E402
from vng_api_common.authorizations.models import Applicatie, AuthorizationsConfig, Autorisatie  # noqa: E402
from vng_api_common.constants import ComponentTypes  # noqa: E402
from vng_api_common.models import JWTSecret  # noqa: E402

from nrc.api.scopes import SCOPE_NOTIFICATIES_CONSUMEREN, SCOPE_NOTIFICATIES_PUBLICEREN  # noqa: E402

# the autorisaties it checks are those of component nrc, as its own setup_configuration step
# (AuthorizationStep) sets; the Applicaties below are local (no remote Autorisaties API)
auth_config = AuthorizationsConfig.get_solo()
auth_config.component = ComponentTypes.nrc
auth_config.save()


def applicatie(client_id, secret, label, scope):
    JWTSecret.objects.update_or_create(identifier=client_id, defaults={"secret": secret})
    app = Applicatie.objects.filter(client_ids__contains=[client_id]).first()
    if app is None:
        app = Applicatie.objects.create(client_ids=[client_id], label=label, heeft_alle_autorisaties=False)
    Autorisatie.objects.update_or_create(applicatie=app, component=ComponentTypes.nrc, defaults={"scopes": [str(scope)]})
    return app


applicatie(os.environ["INTEROP_ON_CLIENT_ID"], os.environ["INTEROP_ON_CLIENT_SECRET"], "Open Klant", SCOPE_NOTIFICATIES_PUBLICEREN)
applicatie(os.environ["INTEROP_ON_OPERATOR_ID"], os.environ["INTEROP_ON_OPERATOR_SECRET"], "operator (zaaklink's abonnementen)", SCOPE_NOTIFICATIES_CONSUMEREN)

config = NotificationsConfig.get_solo()
retry = {
    f: getattr(config, f)
    for f in ("notification_delivery_max_retries", "notification_delivery_retry_backoff", "notification_delivery_retry_backoff_max", "notification_delivery_base_factor")
    if hasattr(config, f)
}
print(json.dumps({"applicaties": [os.environ["INTEROP_ON_CLIENT_ID"], os.environ["INTEROP_ON_OPERATOR_ID"]], "retry": retry}))
