"""A Web Push service standing in for a browser's (written for pn's tests). It owns the
subscriptions' private keys, so it decrypts every push with PyPI http_ece (RFC 8291) and checks
its VAPID token with PyPI py-vapid (RFC 8292): implementations independent of pn's.

    push_service.py VAPID_PUBLIC_KEY NAME...

prints `SKIP <why>` when a package is missing, else `PORT <port>`, then one line per NAME:
`SUB <PushSubscription JSON>` with endpoint http://127.0.0.1:<port>/push/<NAME>. Each request
then gives one JSON line. Endpoints whose NAME starts with `gone-` answer 410, others 201.
"""
import base64
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import http_ece
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from py_vapid import Vapid02
except ImportError as e:
    print("SKIP %s; " % e, flush=True)
    sys.exit(0)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


VAPID_PUBLIC = sys.argv[1]
KEYS = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        name = self.path.rsplit("/", 1)[-1]
        out = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }
        private, auth = KEYS[name]
        try:
            plain = http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm")
            out["plaintext"] = json.loads(plain)
        except Exception as e:  # reported to the test, which fails on it
            out["decrypt_error"] = repr(e)
        header = self.headers.get("Authorization", "")
        try:
            out["vapid_ok"] = bool(Vapid02.verify(header))
            params = dict(p.strip().split("=", 1) for p in header.split(" ", 1)[1].split(","))
            out["k"] = params["k"]
            out["claims"] = json.loads(unb64(params["t"].split(".")[1]))
        except Exception as e:
            out["vapid_ok"] = False
            out["vapid_error"] = repr(e)
        out["now"] = int(time.time())
        status = 410 if name.startswith("gone-") else 201
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    print("PORT %d" % port, flush=True)
    for name in sys.argv[2:]:
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        auth = os.urandom(16)
        KEYS[name] = (private, auth)
        sub = {
            "endpoint": "http://127.0.0.1:%d/push/%s" % (port, name),
            "expirationTime": None,
            "keys": {"p256dh": b64(public), "auth": b64(auth)},
        }
        print("SUB " + json.dumps(sub), flush=True)
    server.serve_forever()


main()
