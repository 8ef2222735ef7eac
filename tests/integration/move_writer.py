#!/usr/bin/python3
"""move_writer.py PORT ACKFILE STOPFILE: SET move:N N through the proxy at
127.0.0.1:PORT, one key after another, until STOPFILE exists; every key the
proxy answered +OK for is appended to ACKFILE (flushed at once). Errors and
timeouts are counted, never recorded: only acknowledged writes must survive.
At the end prints "sent N acked N errors N".

move_writer.py --check PORT ACKFILE: GET every key of ACKFILE through the
proxy (pipelined) and print "checked N missing N", then the first missing
keys; exit 1 when any is missing or differs."""
import os
import socket
import sys
import time

def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.settimeout(2)
    return s, s.makefile("rb")


def main():
    port, ackfile, stopfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sent = acked = errors = 0
    conn = None
    n = 0
    with open(ackfile, "a") as ack:
        while not os.path.exists(stopfile):
            n += 1
            key, val = "move:%d" % n, str(n)
            try:
                if conn is None:
                    conn = connect(port)
                s, f = conn
                s.sendall(("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                           % (len(key), key, len(val), val)).encode())
                sent += 1
                line = f.readline()
                if line == b"+OK\r\n":
                    acked += 1
                    ack.write("%s %s\n" % (key, val))
                    ack.flush()
                else:
                    errors += 1
                    if not line:
                        raise OSError("closed")
            except OSError:
                errors += 1
                if conn:
                    conn[0].close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.002)
    print("sent %d acked %d errors %d" % (sent, acked, errors))


def check(port, ackfile):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rb")
    pairs = [line.split() for line in open(ackfile) if line.strip()]
    missing = []
    for i in range(0, len(pairs), 200):
        batch = pairs[i:i + 200]
        s.sendall(b"".join(("*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)).encode()
                           for k, _ in batch))
        for k, v in batch:
            head = f.readline()
            got = None
            if head.startswith(b"$") and head != b"$-1\r\n":
                got = f.read(int(head[1:]) + 2)[:-2].decode()
            if got != v:
                missing.append("%s (got %r)" % (k, got if got is not None else head.strip()))
    print("checked %d missing %d" % (len(pairs), len(missing)))
    for m in missing[:5]:
        print("    lost: %s" % m)
    return 1 if missing else 0


if sys.argv[1] == "--check":
    sys.exit(check(int(sys.argv[2]), sys.argv[3]))
main()
