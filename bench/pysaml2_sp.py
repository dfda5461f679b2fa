"""PyPI pysaml2 as a service provider processing the same signed SAML
Response the gateway validates (tests/fixtures/saml), timed over N rounds.

Usage: pysaml2_sp.py FIXTURES_DIR N  -> prints "PYSAML2 <per_second> <median_ms>"
"""
import base64
import json
import statistics
import sys
import time

from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import SPConfig

fixtures, rounds = sys.argv[1], int(sys.argv[2])
manifest = json.load(open(f"{fixtures}/cases.json"))
xml = open(f"{fixtures}/valid_response_signed.xml", "rb").read()
b64 = base64.b64encode(xml).decode()
judged = time.mktime(time.strptime(manifest["judged_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
conf = SPConfig()
conf.load({
    "entityid": manifest["sp_entity_id"],
    "service": {"sp": {
        "endpoints": {"assertion_consumer_service": [(manifest["acs_url"], BINDING_HTTP_POST)]},
        "want_response_signed": True,
        "allow_unsolicited": False,
    }},
    "metadata": {"local": [f"{fixtures}/{manifest['metadata']}"]},
    # The fixture was issued for judged_at; allow the years since then so
    # the validity window does not refuse it (the checks still run).
    "accepted_time_diff": int(abs(time.time() - judged)) + 3600,
    "xmlsec_binary": "/usr/bin/xmlsec1",
})
sp = Saml2Client(config=conf)
samples = []
for _ in range(rounds):
    t0 = time.perf_counter()
    r = sp.parse_authn_request_response(b64, BINDING_HTTP_POST, outstanding={manifest["request_id"]: "/"})
    samples.append(time.perf_counter() - t0)
    assert r is not None and r.name_id.text == "carol@lakeside.example", r
med = statistics.median(samples)
print(f"PYSAML2 {1.0 / med:.1f} {med * 1000:.3f}")
