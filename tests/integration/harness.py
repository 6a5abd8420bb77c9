# SPDX-License-Identifier: MIT
"""Test harness: start real tandemd processes on loopback, drive them with
sipp and raw UDP, and look at them through their stats socket (tandemctl).

Every node gets its own temporary directory (config, data_dir, stats
socket, log) and free ports; everything is bounded in time and cleaned up,
so tests can run in parallel.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BUILD_DIR = os.environ.get("TANDEM_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIPP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sipp")
TANDEMD = os.path.join(BUILD_DIR, "tandemd")
TANDEMCTL = os.path.join(BUILD_DIR, "tandemctl")


def free_udp_port(host="127.0.0.1"):
    """A UDP port that is free right now on host (the kernel's choice)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_tcp_port(host="127.0.0.1"):
    """A TCP port that is free right now on host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def hostport(host, port):
    """host:port, with an IPv6 address in brackets ([::1]:5060)."""
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def has_ipv6_loopback():
    """True when ::1 can be bound (the machine has IPv6 on loopback)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_loopback_ip():
    """A 127.x.y.z address on which port 5060 is free (for peers that must
    receive answers on the default SIP port, RFC 3261 §18.2.2)."""
    for _ in range(200):
        ip = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255), random.randint(2, 254))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((ip, 5060))
                return ip
            except OSError:
                continue
    raise RuntimeError("no free loopback address with port 5060")


class Node:
    """One tandemd process with its own directory."""

    def __init__(self, name="node", sip=None, extra=None, users=None, workers=1, start=True,
                 host="127.0.0.1", affinity=None):
        """affinity: the CPUs the process may use (all of this one's if None)."""
        self.dir = tempfile.mkdtemp(prefix="tandem-test-")
        self.affinity = affinity
        self.name = name
        self.host = host
        self.port = free_udp_port(host)
        self.sip = {
            "listen": hostport(self.host, self.port),
            "domain": "example.com",
            "auth": "none",
        }
        if sip:
            self.sip.update(sip)
        self.extra = extra or {}
        self.workers = workers
        self.socket = os.path.join(self.dir, "tandem.sock")
        self.log_path = os.path.join(self.dir, "tandemd.log")
        self.proc = None
        if users is not None:
            path = os.path.join(self.dir, "users.csv")
            with open(path, "w") as f:
                f.write(users)
            self.sip["users"] = path
        self.config = os.path.join(self.dir, "tandem.conf")
        self.write_config()
        if start:
            self.start()

    def write_config(self):
        sections = {
            "node": {"name": self.name, "data_dir": os.path.join(self.dir, "data")},
            "sip": dict(self.sip),
            "stats": {"socket": self.socket},
            "io": {"mode": "socket", "workers": str(self.workers)},
        }
        for key, value in self.extra.items():
            section, _, k = key.partition(".")
            sections.setdefault(section, {})[k] = value
        with open(self.config, "w") as f:
            for section, keys in sections.items():
                f.write("[%s]\n" % section)
                for k, v in keys.items():
                    for one in (v if isinstance(v, list) else [v]):
                        f.write("%s = %s\n" % (k, one))
                f.write("\n")

    def start(self, timeout=10.0):
        if getattr(self, "log", None) is not None and not self.log.closed:
            self.log.close()
        self.log = open(self.log_path, "ab")
        cpus = self.affinity
        self.proc = subprocess.Popen([TANDEMD, "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus))
                                     if cpus else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tandemd exited with %d at start-up:\n%s" % (self.proc.returncode, self.read_log()))
            if os.path.exists(self.socket):
                try:
                    self.ctl("show info")
                    return
                except subprocess.CalledProcessError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("tandemd did not come up within %.0fs:\n%s" % (timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def ctl(self, command, check=True):
        """Run a stats command with tandemctl; return its output."""
        r = subprocess.run([TANDEMCTL, "-s", self.socket] + command.split(),
                           capture_output=True, text=True, timeout=10)
        if check and r.returncode != 0:
            raise subprocess.CalledProcessError(r.returncode, command, r.stdout, r.stderr)
        return r.stdout if check else r

    def json(self, command):
        return json.loads(self.ctl(command + " json"))

    def stats(self):
        return self.json("show stats")

    def counter(self, name):
        return self.stats()["counters"][name]

    def registrations(self, aor=None):
        return self.json("show registrations" + (" " + aor if aor else ""))["registrations"]

    def contacts(self, aor):
        regs = self.registrations(aor)
        return regs[0]["contacts"] if regs else []

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the node; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("tandemd did not stop within %.0fs after %s" % (timeout, sig))
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        return rc

    def close(self):
        if self.proc is not None:
            try:
                self.stop()
            except AssertionError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def sipp(node, scenario, variables, local_port=None, calls=1, timeout=10, local_ip=None):
    """Run a sipp scenario from tests/integration/sipp against node (from
    ::1 when the node listens on IPv6, else from 127.0.0.1 by default).
    Returns (exit status, output). sipp exits 0 when every call passed."""
    if local_ip is None:
        local_ip = "::1" if ":" in node.host else "127.0.0.1"
    cmd = ["sipp", hostport(node.host, node.port),
           "-sf", os.path.join(SIPP_DIR, scenario),
           "-m", str(calls), "-l", "1",
           "-i", local_ip, "-p", str(local_port or free_udp_port(local_ip)),
           "-timeout", "%ds" % timeout, "-timeout_error",
           "-nostdin", "-nd", "-recv_timeout", "5000"]
    with open(os.path.join(SIPP_DIR, scenario)) as f:
        text = f.read()
    for k, v in variables.items():
        # sipp refuses -set for a variable its scenario does not use.
        if "[$%s]" % k in text:
            cmd += ["-set", k, str(v)]
    if "[authentication]" in text:
        # sipp takes digest credentials from the command line only.
        cmd += ["-au", str(variables["user"]), "-ap", str(variables["password"])]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 20,
                       cwd=node.dir)
    return r.returncode, r.stdout + r.stderr


def udp_request(node, text, src_ip="127.0.0.1", timeout=2.0, expect_reply=True):
    """Send one SIP request (\\n line ends are turned into CRLF) from a fresh
    socket; return the reply text or None."""
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode() if isinstance(text, str) else text
    if ":" in node.host and src_ip == "127.0.0.1":
        src_ip = "::1"
    with socket.socket(socket.AF_INET6 if ":" in src_ip else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src_ip, 0))
        s.settimeout(timeout if expect_reply else 0.3)
        s.sendto(data, (node.host, node.port))
        try:
            reply, _ = s.recvfrom(65535)
            return reply.decode("utf-8", "replace")
        except socket.timeout:
            return None


def status_of(reply):
    assert reply is not None, "no reply"
    assert reply.startswith("SIP/2.0 "), "not a response: %r" % reply[:60]
    return int(reply.split(" ", 2)[1])


class NodeTest(unittest.TestCase):
    """A test case with a node per test; subclasses set node_args."""

    node_args = {}

    def setUp(self):
        self.node = Node(**self.node_args)

    def tearDown(self):
        rc = self.node.stop()
        log = self.node.read_log()
        self.node.close()
        self.assertEqual(rc, 0, "tandemd must exit 0 on SIGTERM; log:\n" + log)
        for bad in ("AddressSanitizer", "runtime error:", "ThreadSanitizer", "LeakSanitizer"):
            self.assertNotIn(bad, log, "sanitizer report in the log:\n" + log)
