"""Server METADATA through an IMAP server with Python's own imaplib (RFC 5464 by hand: imaplib
has no METADATA methods). Written for pn's tests.

    imap_metadata.py PORT USER PASSWORD set KEY VALUE
    imap_metadata.py PORT USER PASSWORD get KEY      -> prints the value (empty line if NIL)
"""
import imaplib
import sys


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    port, user, password, op, key = sys.argv[1:6]
    m = imaplib.IMAP4("127.0.0.1", int(port))
    m.login(user, password)
    if op == "set":
        typ, data = m.xatom("SETMETADATA", '""', "(%s %s)" % (key, quote(sys.argv[6])))
        if typ != "OK":
            sys.exit("SETMETADATA failed: %r %r" % (typ, data))
    else:
        typ, data = m.xatom("GETMETADATA", '""', key)
        if typ != "OK":
            sys.exit("GETMETADATA failed: %r %r" % (typ, data))
        typ, data = m._untagged_response(typ, data, "METADATA")
        value = b""
        for d in data or []:
            if isinstance(d, tuple):
                value = d[1]
            elif d and b'"' in d:
                inner = d[d.index(key.encode()) + len(key) + 1:].rstrip(b")").strip()
                if inner.startswith(b'"'):
                    value = inner[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        sys.stdout.write(value.decode() + "\n")
    m.logout()


main()
