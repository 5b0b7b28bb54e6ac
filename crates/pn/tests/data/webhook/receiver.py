#!/usr/bin/env python3
"""A webhook receiver for pn's tests, checking requests with libraries nobody here wrote.

Usage: receiver.py SCHEMA_JSON [SECRET ...]

Listens on 127.0.0.1 (a free port), prints "PORT <n>", then one JSON line per request:
method, path, headers (lower-case names), body (text), json (parsed or null),
verified (for each SECRET: does the Standard Webhooks reference library `standardwebhooks`
accept the request with that secret alone), tampered (the same with one byte of the body
changed: must be all false), schema_error (null when the body validates against SCHEMA_JSON
with `jsonschema`; only checked for requests carrying webhook-id).

With FAIL_FIRST=n in the environment the first n requests are answered 408 (pn retries).

Exits 77 with "SKIP ..." on stdout when the packages are missing:
    python3 -m pip install standardwebhooks jsonschema
"""

import datetime
import http.server
import json
import os
import sys
import threading

try:
    import jsonschema
    from standardwebhooks.webhooks import Webhook
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP python packages standardwebhooks and jsonschema are needed ({e}); "
          "install with: python3 -m pip install standardwebhooks jsonschema", flush=True)
    sys.exit(77)

SCHEMA = json.load(open(sys.argv[1], encoding="utf-8"))
jsonschema.Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SECRETS = sys.argv[2:]
# Requests are handled on threads; one line each.
PRINT_LOCK = threading.Lock()
# Answer this many requests with 408 (lib-http's "retry at once") before answering 200.
FAIL_FIRST = int(os.environ.get("FAIL_FIRST", "0"))


def verifies(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
        return True
    except Exception:  # any refusal of the reference library
        return False


def schema_error(doc):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    if not errors:
        for stamp in (doc.get("timestamp"), doc.get("data", {}).get("date")):
            if stamp is not None:
                try:
                    datetime.datetime.fromisoformat(stamp)
                except ValueError as e:
                    errors.append(f"not RFC 3339: {stamp}: {e}")
    return "; ".join(errors) or None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        text = body.decode("utf-8", "replace")
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        tampered = body[:-2] + (b"X" if body[-2:-1] != b"X" else b"Y") + body[-1:] if body else b"x"
        record = {
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": text,
            "json": doc,
            "verified": [verifies(s, body, headers) for s in SECRETS],
            "tampered": [verifies(s, tampered, headers) for s in SECRETS],
            "schema_error": None,
        }
        if "webhook-id" in headers:
            record["schema_error"] = "not JSON" if doc is None else schema_error(doc)
        # Printed before answering, so a pn command that has exited has all its requests
        # printed, in order.
        with PRINT_LOCK:
            print(json.dumps(record), flush=True)
        global FAIL_FIRST
        status = 200
        if FAIL_FIRST > 0:
            FAIL_FIRST -= 1
            status = 408
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
