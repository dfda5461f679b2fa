#!/usr/bin/env python3
"""A real upstream SAML 2.0 IdP for the integration tests: PyPI `pysaml2`
(its IdP `Server`, signing through Debian's `xmlsec1`), answering
HTTP-Redirect AuthnRequests with an auto-submitting HTTP-POST form.

Environment:
  IDP_SP_METADATA  path of the SP's metadata (the gateway's)
  IDP_USERS        JSON map: email -> {"name": ..., "groups": [...]}
  IDP_SIGN         "response" (default), "assertion" or "both"
  IDP_ENCRYPT      "1": encrypt the assertion for the SP's encryption key

Prints `READY <port>` once listening on 127.0.0.1; exits when stdin closes.
The user signing in is the AuthnRequest's subject hint if any, else the
first user (the test picks the user by configuring IDP_USERS).
"""
import datetime, json, os, sys, tempfile, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, xmldsig
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED
from saml2.server import Server
from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT

work = tempfile.mkdtemp(prefix="saml-idp-")
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pysaml2 test IdP")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
key_file, cert_file = os.path.join(work, "idp.key"), os.path.join(work, "idp.crt")
with open(key_file, "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))
with open(cert_file, "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))

httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
port = httpd.server_address[1]
base = f"http://127.0.0.1:{port}"
users = json.loads(os.environ.get("IDP_USERS", "{}"))
# Who the IdP signs in (it has no login form): the first user, until
# /control/current names another.
current = [next(iter(users), "")]
sign = os.environ.get("IDP_SIGN", "response")
encrypt = os.environ.get("IDP_ENCRYPT") == "1"

conf = IdPConfig()
conf.load({
    "entityid": f"{base}/idp",
    "service": {"idp": {
        "endpoints": {"single_sign_on_service": [(f"{base}/sso/redirect", BINDING_HTTP_REDIRECT)]},
        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED],
        "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                               "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}},
    }},
    "key_file": key_file, "cert_file": cert_file,
    "xmlsec_binary": "/usr/bin/xmlsec1",
    "metadata": {"local": [os.environ["IDP_SP_METADATA"]]},
})
idp = Server(config=conf)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="text/html"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/metadata":
            return self.send(200, str(entity_descriptor(conf)), "application/samlmetadata+xml")
        if url.path == "/control/current":
            # The IdP admin changes who signs in (e.g. after fixing the
            # attribute release): the next answers are for this user.
            current[0] = q["email"]
            return self.send(200, "ok", "text/plain")
        if url.path != "/sso/redirect":
            return self.send(404, "not found")
        try:
            req = idp.parse_authn_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT).message
            args = idp.response_args(req, [BINDING_HTTP_POST])
            email = current[0]
            user = users[email]
            identity = {"mail": [email], "displayName": [user.get("name", email)],
                        "eduPersonAffiliation": user.get("groups", [])}
            if user.get("omit_mail"):
                del identity["mail"]
            resp = idp.create_authn_response(
                identity, userid=email,
                name_id=saml.NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
                authn={"class_ref": PASSWORDPROTECTEDTRANSPORT, "authn_auth": f"{base}/idp"},
                sign_response=sign in ("response", "both"), sign_assertion=sign in ("assertion", "both"),
                sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256,
                encrypt_assertion=encrypt,
                **args)
            http = idp.apply_binding(BINDING_HTTP_POST, str(resp), args["destination"],
                                     q.get("RelayState", ""), response=True)
            return self.send(200, http["data"])
        except Exception as e:  # the test reads this on failure
            return self.send(500, f"IdP error: {e!r}", "text/plain")


httpd.RequestHandlerClass = Handler
threading.Thread(target=httpd.serve_forever, daemon=True).start()
print(f"READY {port}", flush=True)
sys.stdin.read()
