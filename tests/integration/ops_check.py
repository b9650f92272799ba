#!/usr/bin/python3
"""Operator behaviour of helixd: SIGHUP re-reads the config file in use and
applies the reloadable keys without touching sessions; a bad file keeps the
old configuration and says why in the log; --daemonize returns once the
daemon listens; --pidfile is written and removed; the socket of a live
daemon is refused and a stale one replaced."""
import os, signal, socket, subprocess, sys, tempfile, time

import msgpack

HELIXD = os.environ["HELIXD"]
WORKER = os.environ["HELIX_WORKER"]
passes, failures = [], []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    (passes if cond else failures).append(what)


def poll(cond, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.u = msgpack.Unpacker(raw=False)
        self.n = 0

    def call(self, method, *params):
        self.n += 1
        self.s.sendall(msgpack.packb([0, self.n, method, list(params)]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for o in self.u:
                if o[0] == 1 and o[1] == self.n:
                    return o[2], o[3]
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.s.recv(65536)
            if not data:
                return {"code": "EOF"}, None
            self.u.feed(data)
        return {"code": "no answer"}, None

    def close(self):
        self.s.close()


def connectable(path):
    try:
        Conn(path).close()
        return True
    except OSError:
        return False


with tempfile.TemporaryDirectory() as d:
    sock, state = os.path.join(d, "s.sock"), os.path.join(d, "state")
    conf, log = os.path.join(d, "helix.conf"), os.path.join(d, "helixd.log")
    with open(conf, "w") as f:
        f.write("max_clients_per_flow = 5\nlog_level = info\n")
    logf = open(log, "w")
    p = subprocess.Popen([HELIXD, "--config", conf, "--socket", sock,
                          "--state-dir", state, "--worker", WORKER],
                         stderr=logf)
    try:
        check(poll(lambda: connectable(sock)), "helixd listens")
        a, b = Conn(sock), Conn(sock)
        err, res = a.call("flow.apply", "r", [{"op": "add_node", "node": {
            "id": "n", "type": "t", "x": 0, "y": 0}}])
        check(err is None and res == {"version": 1}, "apply before reload")
        _, insp = a.call("session.inspect", "r")
        pid = insp["pid"]
        check(a.call("flow.join", "r", "a")[0] is None, "first join")

        # A reloadable key changes; the session is not touched.
        with open(conf, "w") as f:
            f.write("max_clients_per_flow = 1\nlog_level = info\n")
        p.send_signal(signal.SIGHUP)
        check(poll(lambda: "config.reload" in open(log).read() and
                   "result=ok" in open(log).read()), "reload logged ok")
        err, _ = b.call("flow.join", "r", "b")
        check(err is not None and err.get("code") == "max_clients_reached",
              "max_clients_per_flow = 1 applies after SIGHUP (got %s)" % err)
        _, insp = a.call("session.inspect", "r")
        check(insp["pid"] == pid, "the session kept its worker across reload")

        # A bad file keeps the old configuration and says why.
        with open(conf, "w") as f:
            f.write("max_clients_per_flow = lots\n")
        p.send_signal(signal.SIGHUP)
        check(poll(lambda: "result=rejected" in open(log).read()),
              "bad file rejected in the log")
        check(":1:" in open(log).read(), "the rejection names file:line")
        err, _ = b.call("flow.join", "r", "b")
        check(err is not None and err.get("code") == "max_clients_reached",
              "the old configuration stays after a bad file")
        check(p.poll() is None, "helixd still runs")

        # A client that shuts down its writing side after pipelining
        # (printf ... | nc -U) is answered, then the server closes.
        h = socket.socket(socket.AF_UNIX)
        h.connect(sock)
        h.sendall(msgpack.packb([0, 1, "flow.get", ["r"]]) +
                  msgpack.packb([0, 2, "sys.ping", []]) +
                  msgpack.packb([0, 3, "flow.history", ["r", 0]]) +
                  b"\x94\x00")          # and a message cut short
        h.shutdown(socket.SHUT_WR)
        hu, got, eof = msgpack.Unpacker(raw=False), {}, False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            h.settimeout(max(0.01, deadline - time.monotonic()))
            data = h.recv(65536)
            if not data:
                eof = True
                break
            hu.feed(data)
            for o in hu:
                got[o[1]] = o
        check(sorted(got) == [1, 2, 3] and eof,
              "a half-closed client gets every answer, then EOF (got %s, "
              "eof %s)" % (sorted(got), eof))
        h.close()

        # A second daemon on a live socket is refused.
        r = subprocess.run([HELIXD, "--config", "", "--socket", sock,
                            "--state-dir", state + "2", "--worker", WORKER],
                           stderr=subprocess.PIPE, timeout=20)
        check(r.returncode == 1 and b"already listening" in r.stderr,
              "a live socket is refused (status %d)" % r.returncode)
        a.close()
        b.close()
    finally:
        p.kill()
        p.wait()
    # SIGKILLed: its socket file is stale now.
    check(os.path.exists(sock), "a SIGKILLed daemon leaves its socket file")

    pidfile = os.path.join(d, "helixd.pid")
    r = subprocess.run([HELIXD, "--config", "", "--socket", sock,
                        "--state-dir", state, "--worker", WORKER,
                        "--daemonize", "--pidfile", pidfile],
                       stderr=logf, timeout=30)
    check(r.returncode == 0, "--daemonize returns 0 once ready")
    check(connectable(sock), "the daemon listens when --daemonize returns "
          "(stale socket replaced)")
    dpid = int(open(pidfile).read().strip()) if os.path.exists(pidfile) else 0
    check(dpid > 0 and os.path.exists("/proc/%d" % dpid),
          "the pidfile names a live process")
    c = Conn(sock)
    _, doc = c.call("flow.get", "r")
    check(doc is not None and doc["version"] == 1,
          "the daemon serves what the killed one acknowledged")
    c.close()
    if dpid > 0:
        os.kill(dpid, signal.SIGTERM)
        check(poll(lambda: not os.path.exists(pidfile)),
              "the pidfile is removed at exit")
        check(poll(lambda: not os.path.exists("/proc/%d" % dpid) or
                   open("/proc/%d/stat" % dpid).read().split()[2] == "Z"),
              "the daemon exits on SIGTERM")
    logf.close()

print("%d passed, %d failed" % (len(passes), len(failures)))
sys.exit(1 if failures else 0)
