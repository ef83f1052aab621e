"""Seed Open Zaak for scripts/interop (run with Open Zaak's venv and settings).

- a catalogus, a published zaaktype, INTEROP_ZAKEN zaken and one for the probes;
- an Applicatie for zaaklink (JWTSecret client id + secret; autorisatie on component nrc
  with scope cloudevents.bezorgen, which is all `POST /events` needs; and one on component
  zrc with scope zaken.lezen on the zaaktype, as docs/DEPLOY.md step 5a says);
- an Applicatie with heeft_alle_autorisaties for the scenario runner's reads;
- a zgw-consumers Service for Open Klant's klantinteracties API (auth API key, header
  Authorization = "Token <Open Klant token>"), so Open Zaak can GET a gekoppeld's linkTo.
Prints a JSON summary (zaak uuids and URLs) on stdout.
"""

import json
import os
import uuid
from datetime import date, timedelta

import django

django.setup()

from vng_api_common.authorizations.models import Applicatie, Autorisatie  # noqa: E402
from vng_api_common.constants import ComponentTypes, VertrouwelijkheidsAanduiding  # noqa: E402
from vng_api_common.models import JWTSecret  # noqa: E402
from zgw_consumers.constants import APITypes, AuthTypes  # noqa: E402
from zgw_consumers.models import Service  # noqa: E402

from openzaak.components.catalogi.models import Catalogus, ZaakType  # noqa: E402
from openzaak.components.zaken.models import Zaak  # noqa: E402
from openzaak.notifications.scopes import SCOPE_CLOUDEVENTS_BEZORGEN  # noqa: E402

root = os.environ["INTEROP_OZ_ROOT"].rstrip("/")
n_zaken = int(os.environ.get("INTEROP_ZAKEN", "8"))

catalogus, _ = Catalogus.objects.get_or_create(
    domein="INTER",
    rsin="517439943",
    defaults={
        "naam": "Interop",
        "contactpersoon_beheer_naam": "zaaklink interop",
        "contactpersoon_beheer_telefoonnummer": "0612345678",
        "contactpersoon_beheer_emailadres": "interop@example.invalid",
    },
)
zaaktype, _ = ZaakType.objects.get_or_create(
    catalogus=catalogus,
    identificatie="INTEROP-1",
    defaults={
        "zaaktype_omschrijving": "Interop",
        "doel": "zaaklink interop",
        "aanleiding": "zaaklink interop",
        "indicatie_intern_of_extern": "extern",
        "handeling_initiator": "melden",
        "onderwerp": "Interop",
        "handeling_behandelaar": "behandelen",
        "doorlooptijd_behandeling": timedelta(days=30),
        "opschorting_en_aanhouding_mogelijk": False,
        "verlenging_mogelijk": False,
        "publicatie_indicatie": False,
        "referentieproces_naam": "Interop",
        "producten_of_diensten": ["https://example.com/product/1"],
        "datum_begin_geldigheid": date(2020, 1, 1),
        "versiedatum": date(2020, 1, 1),
        "selectielijst_procestype_jaar": 2020,
        "verantwoordelijke": "100000001",
        "vertrouwelijkheidaanduiding": VertrouwelijkheidsAanduiding.openbaar,
        "concept": False,
    },
)
if zaaktype.concept:
    zaaktype.concept = False
    zaaktype.save()

zaken = []
for i in range(n_zaken + 1):  # the last one is the probes' own (tools/interop/probes.py)
    zaak, _ = Zaak.objects.get_or_create(
        identificatie=f"INTEROP-{i + 1:04d}" if i < n_zaken else "INTEROP-PROBE",
        bronorganisatie="517439943",
        defaults={
            "uuid": uuid.uuid4(),
            "zaaktype": zaaktype,
            "vertrouwelijkheidaanduiding": VertrouwelijkheidsAanduiding.openbaar,
            "registratiedatum": date.today(),
            "startdatum": date.today(),
            "verantwoordelijke_organisatie": "517439943",
            "omschrijving": f"interop zaak {i + 1}",
        },
    )
    zaken.append({"uuid": str(zaak.uuid), "url": f"{root}/zaken/api/v1/zaken/{zaak.uuid}"})


def applicatie(client_id, secret, label, alle):
    JWTSecret.objects.update_or_create(identifier=client_id, defaults={"secret": secret})
    app = Applicatie.objects.filter(client_ids__contains=[client_id]).first()
    if app is None:
        app = Applicatie.objects.create(
            client_ids=[client_id], label=label, heeft_alle_autorisaties=alle
        )
    return app


zl = applicatie(os.environ["INTEROP_OZ_ZAAKLINK_ID"], os.environ["INTEROP_OZ_ZAAKLINK_SECRET"], "zaaklink", False)
Autorisatie.objects.get_or_create(
    applicatie=zl,
    component=ComponentTypes.nrc,
    defaults={"scopes": [str(SCOPE_CLOUDEVENTS_BEZORGEN)]},
)
# zaken.lezen on the zaaktype, as docs/DEPLOY.md step 5a tells an operator (the second
# autorisatie: component Zaken API, the zaaktypen of the events, maximum vertrouwelijkheid
# zeer_geheim): deliver's default read path (OPEN_ZAAK_ZAKEN_API_READ=true) and `zaaklink
# audit` read zaakobjecten with it.
Autorisatie.objects.update_or_create(
    applicatie=zl,
    component=ComponentTypes.zrc,
    zaaktype=f"{root}/catalogi/api/v1/zaaktypen/{zaaktype.uuid}",
    defaults={
        "scopes": ["zaken.lezen"],
        "max_vertrouwelijkheidaanduiding": VertrouwelijkheidsAanduiding.zeer_geheim,
    },
)
applicatie(os.environ["INTEROP_OZ_READER_ID"], os.environ["INTEROP_OZ_READER_SECRET"], "interop reader", True)

Service.objects.update_or_create(
    slug="interop-open-klant",
    defaults={
        "label": "Open Klant (interop)",
        "api_type": APITypes.orc,
        "api_root": os.environ["INTEROP_OK_API_ROOT"],
        "auth_type": AuthTypes.api_key,
        "header_key": "Authorization",
        "header_value": f"Token {os.environ['INTEROP_OK_TOKEN']}",
    },
)

print(json.dumps({"zaaktype": str(zaaktype.uuid), "zaken": zaken[:-1], "probe_zaak": zaken[-1]}))
