"""Reads a user's mail and server METADATA over IMAP (Python's imaplib), for pn's Dovecot 2.4
interop test (written for it, not copied). Usage: imap_check.py HOST PORT USER PASSWORD ENTRY
Prints one JSON document: {"exists": N, "messages": [hex of each RFC822 body by UID],
"metadata": value of ENTRY on the server ("" mailbox) or null}."""

import imaplib
import json
import re
import sys


def main():
    host, port, user, password, entry = sys.argv[1:]
    c = imaplib.IMAP4(host, int(port), timeout=30)
    c.login(user, password)
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK", data
    exists = int(data[0])
    messages = []
    if exists:
        typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if isinstance(item, tuple):
                messages.append(item[1].hex())
    typ, data = c.xatom("GETMETADATA", '""', entry)
    metadata = None
    typ, untagged = c._untagged_response(typ, data, "METADATA")
    for item in untagged or []:
        if isinstance(item, tuple):
            metadata = item[1].decode("utf-8", "replace")
        elif item:
            m = re.search(rb'"([^"]*)"\)$', item)
            if m and not item.endswith(b"NIL)"):
                metadata = m.group(1).decode("utf-8", "replace")
    c.logout()
    print(json.dumps({"exists": exists, "messages": messages, "metadata": metadata}))


if __name__ == "__main__":
    main()
