"""A minimal HTTPS endpoint for pn's tests: serves CERT/KEY on 127.0.0.1, prints its port,
answers every request `200 OK` and prints each request line as it arrives.
Usage: https_receiver.py CERT_PEM KEY_PEM"""

import socket
import ssl
import sys


def main():
    cert, key = sys.argv[1:3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print("handshake failed: %s" % e, file=sys.stderr, flush=True)
            conn.close()
            continue
        serve(tls)


def serve(tls):
    reader = tls.makefile("rb")
    try:
        while True:
            line = reader.readline()
            if not line:
                return
            length = 0
            while True:
                header = reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            reader.read(length)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            print(line.decode("latin-1").strip(), flush=True)
    except (ssl.SSLError, OSError):
        return
    finally:
        tls.close()


main()
