"""A real LMTP client for pn's tests: Python's smtplib.LMTP (and raw sockets where smtplib has
no support: BDAT, pipelining, malformed commands). Usage: client.py SCENARIO ADDRESS [ARGS…]
where ADDRESS is HOST:PORT or a Unix socket path. Prints one JSON document on stdout."""

import json
import smtplib
import socket
import sys
import threading
import time


def lmtp(address):
    if address.startswith("/"):
        return smtplib.LMTP(address, timeout=60)
    host, port = address.rsplit(":", 1)
    return smtplib.LMTP(host, int(port), timeout=60)


def raw(address):
    if address.startswith("/"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(address)
    else:
        host, port = address.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(30)
    return s


class Lines:
    """Reads CRLF lines from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                rest, self.buf = self.buf, b""
                return rest.decode("utf-8", "replace") if rest else None
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply as its lines."""
        lines = []
        while True:
            line = self.line()
            if line is None:
                return lines or None
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines


def reply_text(code_msg):
    code, msg = code_msg
    return "%d %s" % (code, msg.decode("utf-8", "replace"))


def multi(address, message_file, *rcpts):
    """MAIL, every RCPT, DATA; the DATA replies, one per accepted recipient."""
    msg = open(message_file, "rb").read()
    c = lmtp(address)
    out = {"lhlo": reply_text(c.ehlo("client.example"))}
    out["mail"] = reply_text(c.mail("sender@example.org"))
    accepted = 0
    out["rcpt"] = []
    for r in rcpts:
        rep = c.rcpt(r)
        out["rcpt"].append(reply_text(rep))
        accepted += rep[0] == 250
    out["data"] = []
    if accepted:
        out["data"].append(reply_text(c.data(msg)))
        for _ in range(accepted - 1):
            out["data"].append(reply_text(c.getreply()))
    c.quit()
    return out


def utf8(address, message_file, rcpt):
    """SMTPUTF8 + 8BITMIME with a non-ASCII sender, then a non-ASCII recipient."""
    msg = open(message_file, "rb").read()
    c = lmtp(address)
    c.ehlo("client.example")
    out = {"smtputf8": c.has_extn("smtputf8"), "8bitmime": c.has_extn("8bitmime")}
    out["mail"] = reply_text(c.mail("jörg@example.org", ["SMTPUTF8", "BODY=8BITMIME"]))
    out["rcpt_unknown"] = reply_text(c.rcpt("zoë@example.com"))
    out["rcpt"] = reply_text(c.rcpt(rcpt))
    out["data"] = reply_text(c.data(msg))
    c.rset()
    # smtplib refuses to send this itself.
    c.sock.sendall("MAIL FROM:<jörg@example.org>\r\n".encode())
    out["mail_no_utf8"] = reply_text(c.getreply())
    c.quit()
    return out


def script(address, text):
    """Sends the lines given (\\n-separated, CRLF on the wire) one write at a time, reading
    one reply after each."""
    s = raw(address)
    r = Lines(s)
    out = [r.reply()]
    for line in text.split("\n"):
        s.sendall(line.encode() + b"\r\n")
        out.append(r.reply())
    s.close()
    return out


def pipelined(address, message_file, *rcpts):
    """Everything up to DATA in one write, then the body and QUIT in one write."""
    msg = open(message_file, "rb").read()
    s = raw(address)
    r = Lines(s)
    greeting = r.reply()
    cmds = "LHLO client.example\r\nMAIL FROM:<sender@example.org>\r\n"
    cmds += "".join("RCPT TO:<%s>\r\n" % x for x in rcpts) + "DATA\r\n"
    s.sendall(cmds.encode())
    replies = [r.reply() for _ in range(3 + len(rcpts))]
    body = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    body = b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in body.split(b"\r\n"))
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    s.sendall(body + b".\r\nQUIT\r\n")
    accepted = sum(1 for x in replies[2:-1] if x[0].startswith("250"))
    data = [r.reply() for _ in range(accepted)]
    quit_ = r.reply()
    s.close()
    return {"greeting": greeting, "replies": replies, "data": data, "quit": quit_}


def bdat(address, message_file, rcpt, chunk):
    """The message in BDAT chunks of CHUNK bytes, all pipelined in one write."""
    msg = open(message_file, "rb").read()
    chunk = int(chunk)
    s = raw(address)
    r = Lines(s)
    r.reply()
    wire = b"LHLO client.example\r\nMAIL FROM:<sender@example.org>\r\nRCPT TO:<%s>\r\n" % rcpt.encode()
    parts = [msg[i:i + chunk] for i in range(0, len(msg), chunk)]
    for i, p in enumerate(parts):
        last = b" LAST" if i == len(parts) - 1 else b""
        wire += b"BDAT %d%s\r\n" % (len(p), last) + p
    wire += b"QUIT\r\n"
    s.sendall(wire)
    out = [r.reply() for _ in range(3 + len(parts) + 1)]
    s.close()
    return out


def big(address, rcpt, megabytes):
    """A message of MEGABYTES MB through smtplib."""
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef\r\n"
    body = line * (int(megabytes) * 1024 * 1024 // len(line))
    msg = b"From: a@example.org\r\nSubject: big\r\n\r\n" + body
    c = lmtp(address)
    c.ehlo("client.example")
    c.mail("sender@example.org", ["SIZE=%d" % len(msg)])
    c.rcpt(rcpt)
    start = time.time()
    rep = c.data(msg)
    c.quit()
    return {"data": reply_text(rep), "size": len(msg), "seconds": time.time() - start}


def stall(address, after):
    """Connects, optionally starts DATA, then says nothing: what the server sends, and
    how long until it closed the connection."""
    s = raw(address)
    r = Lines(s)
    r.reply()
    if after == "data":
        s.sendall(b"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
        for _ in range(4):
            r.reply()
        s.sendall(b"Subject: half\r\n")
    start = time.time()
    got = []
    while True:
        line = r.line()
        if line is None:
            break
        got.append(line)
    return {"got": got, "closed_after": time.time() - start}


def concurrent(address, rcpt, count):
    """COUNT sessions at once, each delivering one message; their DATA replies."""
    count = int(count)
    results = [None] * count
    barrier = threading.Barrier(count)

    def one(i):
        try:
            barrier.wait(60)
            c = lmtp(address)
            c.ehlo("client.example")
            c.mail("sender@example.org")
            c.rcpt(rcpt)
            results[i] = reply_text(c.data(b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i)))
            c.quit()
        except Exception as e:  # noqa: BLE001 - reported to the test
            results[i] = "error: %r" % (e,)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def shutdown(address, pidfile_or_pid):
    """An idle session and one in the middle of DATA; SIGTERM the server; finish the DATA."""
    import os
    import signal

    idle = raw(address)
    ri = Lines(idle)
    ri.reply()
    busy = raw(address)
    rb = Lines(busy)
    rb.reply()
    busy.sendall(b"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
    for _ in range(4):
        rb.reply()
    busy.sendall(b"Subject: during shutdown\r\n\r\nfirst half\r\n")
    os.kill(int(pidfile_or_pid), signal.SIGTERM)
    time.sleep(0.5)
    idle_got = ri.line()
    busy.sendall(b"second half\r\n.\r\n")
    data = rb.reply()
    after = rb.line()
    time.sleep(0.3)
    try:
        late = raw(address)
        late_got = Lines(late).line()
    except OSError as e:
        late_got = "refused: %s" % e.__class__.__name__
    return {"idle": idle_got, "data": data, "after": after, "late": late_got}


def main():
    scenario, address, *args = sys.argv[1:]
    fn = globals()[scenario]
    print(json.dumps(fn(address, *args)))


if __name__ == "__main__":
    main()
