"""Reproduces a store lock-up: refresh requests abandoned mid-flight leave SQLite's write lock held.

Clients that disconnect while a write transaction is being opened (here: `POST /auth/refresh` with
well-formed random refresh tokens, the connection reset 0-2 ms after sending) can leave a pooled
SQLite connection inside an open `BEGIN IMMEDIATE` transaction (sqlx 0.8: a future dropped after
the BEGIN ran but before the `Transaction` value exists rolls nothing back). That connection goes
back to the pool holding the database's write lock, and every later write (login, refresh, logout,
revocation) waits the 5 s busy timeout and fails with 503 until the process restarts.

Usage, against a Tessera started on 127.0.0.1 with TESSERA_RATE_LIMIT_PER_IP=0 and a user
registered (see bench/run.sh for such a setup):

    bench/.venv/bin/python bench/cancel_repro.py --port 28080 --username benchuser \
        --password bench-password-0123456789

Sends aborted requests for --seconds (default 3), then tries --logins (default 3) logins and
reports each. Exit status 0 when every login after the flood succeeded, 1 otherwise. Loopback
only; bounded in time (about --seconds + 15 s per failing login).
"""

import argparse
import base64
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time


def aborted_refresh(port):
    token = "tsr_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    body = json.dumps({"refresh_token": token}).encode()
    head = (
        "POST /auth/refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body)
    time.sleep(random.random() * 0.002)
    # SO_LINGER 0: close with a reset, as a client that goes away does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--logins", type=int, default=3)
    args = parser.parse_args()

    deadline = time.time() + args.seconds
    sent = [0]

    def flood():
        while time.time() < deadline:
            aborted_refresh(args.port)
            sent[0] += 1

    threads = [threading.Thread(target=flood) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"aborted refresh requests: {sent[0]}")

    ok = True
    credentials = json.dumps({"username": args.username, "password": args.password})
    for _ in range(args.logins):
        connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=15)
        started = time.time()
        connection.request("POST", "/auth/login", credentials, {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()[:120].decode(errors="replace")
        print(f"login afterwards: HTTP {response.status} in {time.time() - started:.2f} s {body if response.status != 200 else ''}")
        ok = ok and response.status == 200
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
