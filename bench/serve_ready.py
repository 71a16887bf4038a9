#!/usr/bin/env python3
"""Starts a server command and reports, as JSON, the milliseconds from exec to the first 200 from
GET /v2/health/ready (polled every millisecond), then leaves it running; prints its PID.

    python3 bench/serve_ready.py PORT CMD ARGS...
"""

import json
import socket
import subprocess
import sys
import time

port, cmd = int(sys.argv[1]), sys.argv[2:]
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
req = f"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
while True:
    if proc.poll() is not None:
        sys.exit(f"the server exited with {proc.returncode}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(req)
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                break
    except OSError:
        pass
    if time.perf_counter() - t0 > 120:
        sys.exit("not ready after 120 s")
    time.sleep(0.001)
print(json.dumps({"pid": proc.pid, "ready_ms": (time.perf_counter() - t0) * 1000}))
