#!/usr/bin/python3
"""A third-party MessagePack-RPC client drives helixd with nothing but the
contract: Debian's python3-pynvim, its generic msgpack_rpc session
(pynvim.msgpack_rpc.socket_session), nothing helix-specific.

Run with /usr/bin/python3 (meson does): a pyenv python3 on PATH may lack
pynvim.  HELIXD and HELIX_WORKER name the programs.  Exits 0 on success,
1 on a failure (with the reason and the daemon's log), also when pynvim is
not installed: scripts/dev installs it, so its absence is a broken set-up.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    from pynvim.msgpack_rpc import socket_session
except ImportError as e:
    print("FAIL: python3-pynvim is not installed (%s); scripts/dev setup "
          "installs it" % e)
    sys.exit(1)

DEADLINE_S = 20          # what must happen, happens within this
WHOLE_RUN_S = 90         # the whole script


class HelixError(Exception):
    """The error map of a helix response: {"code", "message", ...}."""

    def __init__(self, err):
        super().__init__(err)
        self.err = err
        self.code = err.get("code") if isinstance(err, dict) else None


class Failure(Exception):
    pass


def check(cond, what, got, want):
    if not cond:
        raise Failure("%s: got %r, want %r" % (what, got, want))


def session(path):
    s = socket_session(path)
    # The error object is helix's map, not Neovim's [type, message] pair.
    s.error_wrapper = HelixError
    return s


def wait_socket(proc, path):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure("helixd exited with %r before accepting"
                          % proc.returncode)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.connect(path)
                return
        except OSError:
            time.sleep(0.01)    # poll until the deadline
    raise Failure("helixd did not accept on %s within %d s"
                  % (path, DEADLINE_S))


def next_notification(s, name):
    """The next notification called name; others (flow.presence) skipped.
    The whole run is bounded by SIGALRM."""
    while True:
        msg = s.next_message()
        if msg is None:
            raise Failure("connection closed while waiting for %s" % name)
        kind, method, args = msg[0], msg[1], msg[2]
        if isinstance(method, bytes):
            method = method.decode()
        if kind == "notification" and method == name:
            return args


def run(sock):
    s1 = session(sock)
    s2 = session(sock)

    got = s1.request("sys.ping")
    check(got == "pong", "sys.ping", got, "pong")
    got = s1.request("sys.version")
    check(isinstance(got, dict) and got.get("protocol") == 1,
          "sys.version", got, {"version": "...", "protocol": 1})

    got = s2.request("flow.join", "py", "py-watcher")
    check(got.get("client_id") == "py-watcher" and
          got.get("client_count") == 1 and got.get("version") == 0,
          "flow.join (watcher)", got,
          {"client_id": "py-watcher", "client_count": 1, "version": 0})
    got = s1.request("flow.join", "py", "py-writer")
    check(got.get("client_count") == 2, "flow.join (writer)", got,
          {"client_id": "py-writer", "client_count": 2, "version": 0})

    ops = [{"op": "add_node",
            "node": {"id": "n1", "type": "t", "x": 1.5, "y": 2}},
           {"op": "set_meta", "title": "from pynvim"}]
    got = s1.request("flow.apply", "py", ops)
    check(got == {"version": 1}, "flow.apply", got, {"version": 1})

    doc = s1.request("flow.get", "py")
    want_nodes = [{"id": "n1", "type": "t", "x": 1.5, "y": 2}]
    check(doc.get("id") == "py" and doc.get("version") == 1 and
          doc.get("title") == "from pynvim" and
          doc.get("nodes") == want_nodes and doc.get("edges") == [],
          "flow.get", doc,
          {"id": "py", "version": 1, "title": "from pynvim",
           "nodes": want_nodes, "edges": []})

    # The other session hears the change, with the writer as origin.
    args = next_notification(s2, "flow.update")
    want = ["py", {"version": 1, "ops": ops, "origin": "py-writer"}]
    check(args == want, "flow.update on the second session", args, want)

    # Errors arrive as helix's error map.
    try:
        s1.request("flow.apply", "py", [{"op": "frobnicate"}])
        raise Failure("flow.apply with a bad op: got a result, "
                      "want invalid_op")
    except HelixError as e:
        check(e.code == "invalid_op" and e.err.get("index") == 0,
              "flow.apply with a bad op", e.err,
              {"code": "invalid_op", "message": "...", "index": 0})
    try:
        s1.request("no.such.method")
        raise Failure("no.such.method: got a result, want unknown_method")
    except HelixError as e:
        check(e.code == "unknown_method", "no.such.method", e.err,
              {"code": "unknown_method"})
    got = s1.request("flow.get", "py")
    check(got.get("version") == 1, "version after the refused apply",
          got.get("version"), 1)

    s1.close()
    s2.close()


def main():
    helixd = os.environ.get("HELIXD")
    worker = os.environ.get("HELIX_WORKER")
    if not helixd or not worker:
        print("HELIXD and HELIX_WORKER must be set (meson test sets them)")
        return 2
    def timed_out(signum, frame):
        raise Failure("no progress within %d s" % WHOLE_RUN_S)

    signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(WHOLE_RUN_S)   # a hang fails, it does not block the run
    tmp = tempfile.mkdtemp(prefix="helix-py.")
    sock = os.path.join(tmp, "s.sock")
    log_path = os.path.join(tmp, "helixd.log")
    ok = False
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [helixd, "--socket", sock, "--state-dir",
             os.path.join(tmp, "state"), "--config", "", "--worker", worker],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
    try:
        wait_socket(proc, sock)
        run(sock)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=DEADLINE_S)
        check(rc == 0, "helixd exit status after SIGTERM", rc, 0)
        ok = True
        print("ok: sys.ping, sys.version, flow.join, flow.apply, flow.get, "
              "flow.update to a second session, error maps")
    except (Failure, HelixError, OSError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s: %s" % (type(e).__name__, e))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not ok:
            with open(log_path, errors="replace") as f:
                print("helixd log:\n" + f.read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
