#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A master/standby pair whose STANDBY runs the DPDK path: while the master
lives the standby diverts the phone's REGISTERs to it (302 naming the
master's SIP address), kill -9 the master and the standby answers 200 after
failover_timeout and not before, restart the master and the standby diverts
again after failback_hold. The same contract as tests/integration/
test_pair.py, with the standby's SIP on DPDK lcores.

Topology (two namespaces made here, removed afterwards):

    ns "pair" (tdm-pair-PID)                       ns "phone" (tdm-pcli-PID)
    ---------------------------------------        ------------------------
    master  tandemd, io = socket                    the phone: a UDP socket
            SIP 127.0.0.1:5062                      of this test (made in the
            link listen 127.0.0.1:7000              namespace with setns),
    standby tandemd, io = dpdk, -l 0,1              and sipp, from
            SIP 198.51.100.1:5060 on the veth       198.51.100.2/24
            end VPR (net_af_packet: the kernel
            has no address there)  <------ veth ------> VPC
            link: kernel TCP to 127.0.0.1:7000

The pair link is kernel TCP on the control thread, so the standby's control
plane must reach the master through the kernel of the standby's own
namespace: both nodes run in the "pair" namespace and talk over its
loopback, while the standby's SIP side is the veth end that DPDK owns. The
phone reaches only that DPDK address; the master's SIP address in the 302
(127.0.0.1:5062, as the master announces it at login) is checked as text,
not followed. The master's worker is pinned to CPU 0, away from the
standby's polling lcore (CPU 1).

Needs root (namespaces, raw sockets, setns); no hugepages, no NIC. Skips
(exit 77) when the build has no DPDK back end. Clean-up runs whatever
happens: both tandemd are killed by pid before their namespace goes, then
the namespaces, the EAL's /var/run/dpdk/<prefix>/ and the temporary
directory.
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD_DIR = os.environ.get("TANDEM_BUILD_DIR",
                           os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SIPP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "sipp")
TANDEMD = os.path.join(BUILD_DIR, "tandemd")
TANDEMCTL = os.path.join(BUILD_DIR, "tandemctl")
SKIP = 77

TAG = "%d" % os.getpid()
NS_P = "tdm-pair-" + TAG
NS_C = "tdm-pcli-" + TAG
VETH_P = ("tpp" + TAG)[:15]
VETH_C = ("tpc" + TAG)[:15]
PREFIX = "tandem-pair-" + TAG

STANDBY4, PHONE4 = "198.51.100.1", "198.51.100.2"
MASTER_SIP = "127.0.0.1:5062"
LINK = "127.0.0.1:7000"
PASSWORD = "correct horse battery staple"
FAILOVER = 2.0
HOLD = 3.0
HEARTBEAT = 0.2
CLONE_NEWNET = 0x40000000


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def sh(*cmd, ns=None, check=True, timeout=30):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Failure("%s failed (%d): %s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def udp_socket_in(ns):
    """A UDP socket that lives in network namespace ns: this thread enters
    ns, makes the socket and comes back (a socket stays in the namespace it
    was made in)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into " + ns)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")
    finally:
        os.close(home)
        os.close(there)
    return s


class Node:
    """One tandemd in the pair namespace."""

    def __init__(self, top, name, sections):
        self.name = name
        self.dir = os.path.join(top, name)
        os.makedirs(self.dir)
        self.socket = os.path.join(self.dir, "tandem.sock")
        self.log_path = os.path.join(self.dir, "tandemd.log")
        self.conf = os.path.join(self.dir, "tandem.conf")
        sections.setdefault("node", {}).update({"name": name,
                                                "data_dir": os.path.join(self.dir, "data")})
        sections["stats"] = {"socket": self.socket}
        with open(self.conf, "w") as f:
            for sec, keys in sections.items():
                f.write("[%s]\n" % sec)
                for k, v in keys.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")
        self.proc = None
        self.log = None

    def start(self, timeout=20.0):
        self.log = open(self.log_path, "ab")
        # ip netns exec execs tandemd: the pid is tandemd's.
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS_P, TANDEMD, "--config", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.read_log()
            if self.proc.poll() is not None:
                if "no DPDK back end" in text:
                    return False
                raise Failure("%s exited with %d at start-up:\n%s"
                              % (self.name, self.proc.returncode, text))
            if text.count(" ready: ") > getattr(self, "starts", 0):
                self.starts = text.count(" ready: ")
                return True
            time.sleep(0.05)
        raise Failure("%s did not come up within %.0fs:\n%s" % (self.name, timeout,
                                                                 self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def json(self, command):
        r = subprocess.run([TANDEMCTL, "-s", self.socket] + command.split() + ["json"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise Failure("%s: tandemctl %s: %s%s" % (self.name, command, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def role(self):
        return self.json("show role")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.log.close()

    def stop(self, timeout=10):
        """SIGTERM; the exit status (None: it had to be killed)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.proc = None
        self.log.close()
        return rc


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tandem-dpdk-pair-")
        self.made_ns = []
        self.master = self.standby = None
        self.phone = None

    def up(self):
        for ns in (NS_P, NS_C):
            sh("ip", "netns", "add", ns)
            self.made_ns.append(ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", VETH_P, "netns", NS_P, "type", "veth", "peer", "name", VETH_C,
           "netns", NS_C)
        # The standby's end: no kernel address, no IPv6 (only tandem answers).
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % VETH_P, ns=NS_P)
        sh("ip", "link", "set", VETH_P, "up", ns=NS_P)
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % VETH_C, ns=NS_C)
        sh("ip", "addr", "add", PHONE4 + "/24", "dev", VETH_C, ns=NS_C)
        sh("ip", "link", "set", VETH_C, "up", ns=NS_C)
        # Finished UDP checksums from the phone (tandem checks them).
        sh("ethtool", "-K", VETH_C, "tx", "off", ns=NS_C)

        pair = {"failover_timeout": "%dms" % (FAILOVER * 1000),
                "failback_hold": "%dms" % (HOLD * 1000),
                "heartbeat_interval": "%dms" % (HEARTBEAT * 1000)}
        self.master = Node(self.dir, "alpha", {
            "node": {"password": PASSWORD},
            "sip": {"listen": MASTER_SIP, "domain": "example.com", "auth": "none"},
            "pair": dict(pair, listen=LINK),
            # Off the standby's polling lcore (CPU 1).
            "io": {"mode": "socket", "workers": "1", "cpus": "0"},
        })
        eal = ("-l 0,1 --no-huge -m 256 --no-pci --no-shconf --no-telemetry "
               "--log-level=warning --file-prefix=%s --vdev=net_af_packet0,iface=%s"
               % (PREFIX, VETH_P))
        self.standby = Node(self.dir, "beta", {
            "node": {"mode": "standby", "password": PASSWORD},
            "sip": {"listen": STANDBY4 + ":5060", "domain": "example.com", "auth": "none"},
            "pair": dict(pair, master=LINK),
            "io": {"mode": "dpdk", "workers": "1", "dpdk_args": eal},
        })
        self.phone = udp_socket_in(NS_C)
        self.phone.bind((PHONE4, 5999))

    def register(self, user="alice", timeout=0.5):
        """One REGISTER from the phone to the standby's DPDK address; the
        answer's text, or None."""
        stamp = "%d" % (time.monotonic() * 1e6)
        msg = ("REGISTER sip:example.com SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:5999;branch=z9hG4bK-%s;rport\r\n"
               "Max-Forwards: 70\r\n"
               "To: <sip:%s@example.com>\r\nFrom: <sip:%s@example.com>;tag=p%s\r\n"
               "Call-ID: dpdk-pair-%s\r\nCSeq: 1 REGISTER\r\n"
               "Contact: <sip:%s@%s:5999>;expires=300\r\n"
               "Content-Length: 0\r\n\r\n"
               % (PHONE4, stamp, user, user, stamp, stamp, user, PHONE4))
        self.phone.settimeout(timeout)
        self.phone.sendto(msg.encode(), (STANDBY4, 5060))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = self.phone.recvfrom(65535)
            except socket.timeout:
                return None
            text = data.decode("utf-8", "replace")
            if "branch=z9hG4bK-%s;" % stamp in text:
                return text
            # A late answer to an earlier request: not ours.
        return None

    def sipp_302(self, master):
        path = os.path.join(SIPP_DIR, "register_302.xml")
        cmd = ["timeout", "40", "sipp", STANDBY4 + ":5060", "-sf", path, "-m", "1", "-l", "1",
               "-i", PHONE4, "-p", "5070", "-timeout", "15s", "-timeout_error", "-nostdin",
               "-nd", "-recv_timeout", "5000", "-set", "domain", "example.com",
               "-set", "user", "carol", "-set", "expires", "300", "-set", "master", master]
        return sh(*cmd, ns=NS_C, check=False, timeout=60)

    def down(self):
        # The processes first: deleting a namespace does not stop them.
        for n in (self.standby, self.master):
            if n is not None and n.proc is not None:
                n.proc.kill()
                n.proc.wait()
                n.proc = None
                n.log.close()
        if self.phone is not None:
            self.phone.close()
        for ns in reversed(self.made_ns):
            sh("ip", "netns", "del", ns, check=False)
        self.made_ns = []
        shutil.rmtree("/var/run/dpdk/" + PREFIX, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def status_of(reply):
    check(reply is not None and reply.startswith("SIP/2.0 "), "not an answer: %r" % reply)
    return int(reply.split(" ", 2)[1])


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise Failure("timed out after %.1fs waiting for %s" % (timeout, what))


def run(env, results):
    def case(name, fn):
        fn()
        results.append(name)
        print("[ OK ] " + name, flush=True)

    env.up()
    m, s = env.master, env.standby
    m.start()
    if not s.start():
        return SKIP
    wait_for(lambda: s.role()["peer_link"] == "logged in", 10, "the standby to log in")

    def diverts_to_the_master():
        check(s.json("show info")["io_mode"] == "dpdk", "the standby runs the DPDK path")
        reply = env.register()
        check(status_of(reply) == 302, "the standby diverts: %r" % reply)
        check("Contact: <sip:%s>" % MASTER_SIP in reply, "the 302 names the master's SIP "
              "address %s:\n%s" % (MASTER_SIP, reply))
        # sipp agrees, and its check can fail: against another address it must.
        r = env.sipp_302(MASTER_SIP)
        check(r.returncode == 0, "sipp register_302 naming %s:\n%s%s"
              % (MASTER_SIP, r.stdout[-2000:], r.stderr[-2000:]))
        r = env.sipp_302("127.0.0.1:5063")
        check(r.returncode != 0, "register_302.xml accepted a Contact that does not name "
              "the given master")
        regs = s.json("show registrations")["registrations"]
        check([r["aor"] for r in regs] == ["_ACTIVE_"], "a diverting standby stores nothing: "
              "%r" % regs)
        role = s.role()
        check(role["role"] == "standby" and role["epoch"] == 0, "standby, epoch 0: %r" % role)
        # It went through the DPDK path: netstack passed the datagrams.
        stats = s.json("show stats")
        check(stats["frames"]["rx_udp"] >= 3 and stats["counters"]["req_diverted"] >= 3,
              "the datagrams went through netstack and were diverted: %r / %r"
              % (stats["frames"], stats["counters"]))

    def takes_over_after_failover_timeout_and_not_before():
        t0 = time.monotonic()
        m.kill9()
        first_200 = None
        while time.monotonic() - t0 < FAILOVER + 3:
            reply = env.register()
            if reply is not None and status_of(reply) == 200:
                first_200 = time.monotonic() - t0
                break
            check(reply is not None, "no answer %.2fs after the kill" % (time.monotonic() - t0))
            check(status_of(reply) == 302, "diverting until the takeover: %r" % reply)
            time.sleep(0.05)
        check(first_200 is not None, "the standby never took over:\n" + s.read_log())
        # The countdown runs from the last word heard: at most a heartbeat
        # (and a little scheduling) before the kill.
        check(first_200 >= FAILOVER - HEARTBEAT - 0.15,
              "took over %.2fs after the kill, before failover_timeout" % first_200)
        check(first_200 < FAILOVER + 1.0, "took over late: %.2fs" % first_200)
        role = s.role()
        check(role["role"] == "active" and role["epoch"] == 1, "active, epoch 1: %r" % role)
        regs = s.json("show registrations alice")["registrations"]
        contacts = regs[0]["contacts"] if regs else []
        check(len(contacts) == 1 and contacts[0]["uri"] == "sip:alice@%s:5999" % PHONE4,
              "the phone's binding on the standby: %r" % contacts)

    def hands_back_after_failback_hold():
        m.start()
        wait_for(lambda: s.role()["peer_link"] == "logged in", 10, "the master to log in again")
        t1 = time.monotonic()
        back = None
        while time.monotonic() - t1 < HOLD + 3:
            reply = env.register()
            if reply is not None and status_of(reply) == 302:
                back = time.monotonic() - t1
                break
            check(reply is not None and status_of(reply) == 200,
                  "serving during the hold: %r" % reply)
            time.sleep(0.05)
        check(back is not None, "the standby never handed back:\n" + s.read_log())
        check(back >= HOLD - 0.3, "handed back %.2fs after the login, before failback_hold"
              % back)
        check(back < HOLD + 1.5, "handed back late: %.2fs" % back)
        role = s.role()
        check(role["role"] == "standby" and role["epoch"] == 1 and role["takeovers"] == 1
              and role["failbacks"] == 1, "standby again, one takeover, one failback: %r" % role)
        check(m.role()["epoch"] == 1, "the master adopted the epoch")

    def both_stop_cleanly():
        for n in (s, m):
            rc = n.stop()
            check(rc == 0, "%s exit status %r after SIGTERM:\n%s" % (n.name, rc, n.read_log()))

    case("standby_on_dpdk_diverts_to_the_master", diverts_to_the_master)
    case("standby_on_dpdk_takes_over_after_failover_timeout_and_not_before",
         takes_over_after_failover_timeout_and_not_before)
    case("standby_on_dpdk_hands_back_after_failback_hold", hands_back_after_failback_hold)
    case("both_nodes_stop_with_exit_0", both_stop_cleanly)
    return 0


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces, raw sockets)")
        return SKIP
    for tool in ("ip", "sipp", "ethtool"):
        if shutil.which(tool) is None:
            print("SKIP: %s is not installed" % tool)
            return SKIP
    if not os.path.exists(TANDEMD):
        print("SKIP: %s not built" % TANDEMD)
        return SKIP

    env = Env()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results = []
    rc = 1
    t0 = time.monotonic()
    try:
        rc = run(env, results)
        if rc == SKIP:
            print("SKIP: this tandemd has no DPDK back end")
            return SKIP
    except (Failure, subprocess.TimeoutExpired, OSError) as e:
        print("[FAIL] %s" % e, flush=True)
        for n in (env.master, env.standby):
            if n is not None:
                print("--- %s log:\n%s" % (n.name, n.read_log()), end="")
        rc = 1
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        rc = 1
    finally:
        env.down()
        leftover = sh("ip", "netns", "list", check=False).stdout
        if NS_P in leftover or NS_C in leftover:
            print("[FAIL] a namespace was left behind", flush=True)
            rc = 1
    print("took %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (len(results), 0 if rc == 0 else 1))
    return rc


if __name__ == "__main__":
    sys.exit(main())
