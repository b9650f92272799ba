#!/usr/bin/python3
"""helixd under a fake systemd: READY=1 once the socket listens, WATCHDOG=1
pings when WATCHDOG_USEC is set, STATUS=, STOPPING=1 on SIGTERM, and a
worker that inherits none of NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID."""
import os, signal, socket, subprocess, sys, tempfile, time

import msgpack

helixd = os.environ["HELIXD"]
failures = []
passes = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    (passes if cond else failures).append(what)


def recv_until(sock, want, deadline):
    got = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if want in msg.split("\n"):
            return got, True
    return got, False


with tempfile.TemporaryDirectory() as d:
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(os.path.join(d, "notify"))
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(d, "notify"),
               WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    sock = os.path.join(d, "s.sock")
    p = subprocess.Popen([helixd, "--config", "", "--socket", sock,
                          "--state-dir", os.path.join(d, "state")],
                         env=env, stderr=subprocess.DEVNULL)
    try:
        got, ok = recv_until(ns, "READY=1", time.monotonic() + 20)
        check(ok, "READY=1 received")
        check(os.path.exists(sock), "socket listens when READY=1 arrives")
        got, ok = recv_until(ns, "WATCHDOG=1", time.monotonic() + 5)
        check(ok, "WATCHDOG=1 received with WATCHDOG_USEC set")

        c = socket.socket(socket.AF_UNIX)
        c.connect(sock)
        c.sendall(msgpack.packb([0, 1, "flow.get", ["notify"]]) +
                  msgpack.packb([0, 2, "session.inspect", ["notify"]]))
        u = msgpack.Unpacker(raw=False)
        answers = {}
        deadline = time.monotonic() + 20
        while len(answers) < 2 and time.monotonic() < deadline:
            c.settimeout(max(0.01, deadline - time.monotonic()))
            u.feed(c.recv(65536))
            for o in u:
                if o[0] == 1:
                    answers[o[1]] = o
        pid = answers.get(2, [0, 0, None, {}])[3].get("pid")
        check(isinstance(pid, int), "session.inspect gives the worker pid")
        if isinstance(pid, int):
            with open("/proc/%d/environ" % pid, "rb") as f:
                wenv = f.read().split(b"\0")
            names = {e.split(b"=", 1)[0] for e in wenv if e}
            check(not names & {b"NOTIFY_SOCKET", b"WATCHDOG_USEC",
                               b"WATCHDOG_PID"},
                  "the worker inherits no systemd variable")
        got, ok = recv_until(ns, "WATCHDOG=1", time.monotonic() + 5)
        got_status = any(m.startswith("STATUS=1 session")
                         for g in got for m in g.split("\n"))
        if not got_status:
            more, _ = recv_until(ns, "never", time.monotonic() + 2.5)
            got_status = any(m.startswith("STATUS=1 session")
                             for g in more for m in g.split("\n"))
        check(got_status, "STATUS= reports the live session")
        c.close()
        p.send_signal(signal.SIGTERM)
        got, ok = recv_until(ns, "STOPPING=1", time.monotonic() + 10)
        check(ok, "STOPPING=1 on SIGTERM")
        rc = p.wait(timeout=20)
        check(rc == 0, "helixd exits 0 after SIGTERM (got %s)" % rc)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

print("%d passed, %d failed" % (len(passes), len(failures)))
sys.exit(1 if failures else 0)
