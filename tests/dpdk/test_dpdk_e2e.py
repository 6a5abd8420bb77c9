#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The DPDK back end end to end: tandemd with io.mode = dpdk on one end of a
veth pair (attached with net_af_packet), sipp and ping on the other, each
end in a network namespace made by this test.

    ns "registrar": veth end attached by DPDK (no kernel address on it);
                    tandemd answers as 198.51.100.1 and 2001:db8::1
    ns "client":    the other end, 198.51.100.2/24 and 2001:db8::2/64

Checked: ARP and ICMP echo (ping), IPv6 neighbour discovery and ICMPv6
echo (ping -6), REGISTER and re-REGISTER over IPv4 and IPv6 (sipp), an
INVITE redirected with 302 (sipp); the bindings and the pipeline counters
through tandemctl; the netstack counters ("frames" in show stats) account
for every frame: each received frame is answered, passed to SIP or dropped
under a named counter, each frame sent is one of the answers, and none
was dropped as damaged; every thread but the worker lcores stays off the
workers' CPUs (the job thread and liburcu's call_rcu threads included);
and SIGTERM stops tandemd with exit status 0. Needs root (namespaces, raw
sockets); no hugepages (--no-huge) and no NIC. Skips (exit 77) when the
build has no DPDK back end.

Clean-up runs whatever happens (finally, and on SIGTERM/SIGINT): tandemd is
killed by its pid before its namespace is deleted (deleting a namespace
does not stop the processes in it), then the namespaces, the EAL's
/var/run/dpdk/<prefix>/ and the temporary directory go.
"""

import json
import os
import shutil
import signal
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
NS_R = "tdm-reg-" + TAG
NS_C = "tdm-cli-" + TAG
VETH_R = ("tdr" + TAG)[:15]
VETH_C = ("tdc" + TAG)[:15]
PREFIX = "tandem-e2e-" + TAG

NODE4, PEER4 = "198.51.100.1", "198.51.100.2"
NODE6, PEER6 = "2001:db8::1", "2001:db8::2"


class Failure(Exception):
    pass


def sh(*cmd, ns=None, check=True, timeout=30):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Failure("%s failed (%d): %s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tandem-dpdk-e2e-")
        self.proc = None
        self.log = None
        self.made_ns = []

    # -- topology ------------------------------------------------------
    def up(self):
        for ns in (NS_R, NS_C):
            sh("ip", "netns", "add", ns)
            self.made_ns.append(ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", VETH_R, "netns", NS_R, "type", "veth", "peer", "name", VETH_C,
           "netns", NS_C)
        # The registrar's end: no kernel address and no IPv6 on it, so that
        # only tandem answers there (the kernel would send its own ND noise).
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % VETH_R, ns=NS_R)
        sh("ip", "link", "set", VETH_R, "up", ns=NS_R)
        sh("ip", "addr", "add", PEER4 + "/24", "dev", VETH_C, ns=NS_C)
        sh("ip", "-6", "addr", "add", PEER6 + "/64", "dev", VETH_C, "nodad", ns=NS_C)
        sh("ip", "link", "set", VETH_C, "up", ns=NS_C)
        # The client's datagrams must carry finished checksums (veth
        # offloads them otherwise, and tandem checks them).
        sh("ethtool", "-K", VETH_C, "tx", "off", ns=NS_C)

    def start_tandemd(self, timeout=20.0):
        users = os.path.join(self.dir, "users.csv")
        with open(users, "w") as f:
            f.write("name,password,number\nalice,alicepw,100\nbob,bobpw,200\n")
        self.socket = os.path.join(self.dir, "tandem.sock")
        self.log_path = os.path.join(self.dir, "tandemd.log")
        eal = ("-l 0,1 --no-huge -m 256 --no-pci --no-shconf --no-telemetry "
               "--log-level=warning --file-prefix=%s --vdev=net_af_packet0,iface=%s"
               % (PREFIX, VETH_R))
        conf = os.path.join(self.dir, "tandem.conf")
        with open(conf, "w") as f:
            f.write("[node]\nname = dpdk-e2e\ndata_dir = %s\n\n" % os.path.join(self.dir, "data"))
            f.write("[sip]\nlisten = %s:5060\nlisten = [%s]:5060\ndomain = example.com\n"
                    "auth = none\nusers = %s\n\n" % (NODE4, NODE6, users))
            f.write("[stats]\nsocket = %s\n\n" % self.socket)
            f.write("[io]\nmode = dpdk\nworkers = 1\ndpdk_args = %s\n" % eal)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS_R, TANDEMD, "--config", conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.read_log()
            if self.proc.poll() is not None:
                if "no DPDK back end" in text:
                    return False
                raise Failure("tandemd exited with %d at start-up:\n%s" % (self.proc.returncode, text))
            if " ready: " in text:
                return True
            time.sleep(0.05)
        raise Failure("tandemd did not come up within %.0fs:\n%s" % (timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def ctl_json(self, command):
        r = subprocess.run([TANDEMCTL, "-s", self.socket] + command.split() + ["json"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise Failure("tandemctl %s: %s%s" % (command, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def sipp(self, scenario, remote, local_ip, port, variables):
        path = os.path.join(SIPP_DIR, scenario)
        cmd = ["timeout", "40", "sipp", remote, "-sf", path, "-m", "1", "-l", "1",
               "-i", local_ip, "-p", str(port), "-timeout", "15s", "-timeout_error",
               "-nostdin", "-nd", "-recv_timeout", "5000"]
        with open(path) as f:
            text = f.read()
        for k, v in variables.items():
            if "[$%s]" % k in text:
                cmd += ["-set", k, str(v)]
        r = sh(*cmd, ns=NS_C, check=False, timeout=60)
        if r.returncode != 0:
            raise Failure("sipp %s to %s failed (%d):\n%s%s\ntandemd log:\n%s"
                          % (scenario, remote, r.returncode, r.stdout[-2000:], r.stderr[-2000:],
                             self.read_log()))

    def threads(self):
        """{tid: (name, set of allowed CPUs)} of tandemd's threads."""
        out = {}
        base = "/proc/%d/task" % self.proc.pid
        for tid in os.listdir(base):
            try:
                with open(os.path.join(base, tid, "comm")) as f:
                    name = f.read().strip()
                with open(os.path.join(base, tid, "status")) as f:
                    allowed = [l.split(":", 1)[1].strip() for l in f
                               if l.startswith("Cpus_allowed_list:")][0]
            except (OSError, IndexError):
                continue        # the thread ended meanwhile
            out[int(tid)] = (name, cpu_set(allowed))
        return out

    def stop(self, timeout=10):
        """SIGTERM; returns tandemd's exit status (None: it had to be killed)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    # -- clean-up ------------------------------------------------------
    def down(self):
        if self.proc is not None and self.proc.poll() is None:
            # ip netns exec execs tandemd: this pid is tandemd's.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None
        for ns in reversed(self.made_ns):
            sh("ip", "netns", "del", ns, check=False)
        self.made_ns = []
        shutil.rmtree("/var/run/dpdk/" + PREFIX, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def check(cond, what):
    if not cond:
        raise Failure(what)


def cpu_set(text):
    """'0-2,5' -> {0, 1, 2, 5}"""
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def run(env, results):
    def case(name, fn):
        fn()
        results.append(name)
        print("[ OK ] " + name, flush=True)

    env.up()
    if not env.start_tandemd():
        return SKIP

    def ping4():
        sh("ping", "-c", "2", "-W", "2", "-i", "0.2", NODE4, ns=NS_C)
        neigh = sh("ip", "neigh", "show", NODE4, ns=NS_C).stdout
        check("lladdr" in neigh, "ARP entry for the node: %r" % neigh)

    def ping6():
        sh("ping", "-6", "-c", "3", "-W", "2", "-i", "0.5", NODE6, ns=NS_C)

    def register4():
        env.sipp("register.xml", "%s:5060" % NODE4, PEER4, 5070,
                 {"user": "alice", "domain": "example.com", "expires": 300})
        regs = env.ctl_json("show registrations alice")["registrations"]
        contacts = regs[0]["contacts"] if regs else []
        check(len(contacts) == 1, "one binding for alice: %r" % contacts)
        check(contacts[0]["uri"] == "sip:alice@%s:5070" % PEER4, "contact %r" % contacts[0])
        check(contacts[0]["cseq"] == 2, "the re-REGISTER refreshed it: %r" % contacts[0])

    def register6():
        env.sipp("register.xml", "[%s]:5060" % NODE6, PEER6, 5072,
                 {"user": "bob", "domain": "example.com", "expires": 300})
        regs = env.ctl_json("show registrations bob")["registrations"]
        contacts = regs[0]["contacts"] if regs else []
        check(len(contacts) == 1 and "[2001:db8::2]:5072" in contacts[0]["uri"],
              "bob's IPv6 binding: %r" % contacts)

    def redirect():
        env.sipp("invite_302.xml", "%s:5060" % NODE4, PEER4, 5080,
                 {"user": "alice", "domain": "example.com"})
        c = env.ctl_json("show stats")["counters"]
        check(c["redirect_302"] == 1, "one 302: %r" % c["redirect_302"])
        check(c["req_ack"] == 1, "the ACK absorbed")
        check(c["bindings_added"] == 2 and c["bindings_refreshed"] == 2,
              "2 bindings added, 2 refreshed: %r" % c)

    pinged = shutil.which("ping") is not None

    def netstack_counters():
        # Every frame received is answered, passed to SIP or dropped under
        # a counter that says why; every frame sent is one of the answers.
        # (The worker bumps rx_frames before the verdict's counter: a frame
        # of the client's IPv6 noise arriving during the read can split
        # them, so read until a quiet moment, a few times at most.)
        for _ in range(10):
            stats = env.ctl_json("show stats")
            f, c = stats["frames"], stats["counters"]
            drops = {k: v for k, v in f.items() if k.startswith("drop_") and v}
            answered = (f["arp_replies"] + f["nd_adverts"] + f["icmp_echo_replies"]
                        + f["icmp6_echo_replies"])
            if f["rx_frames"] == f["rx_udp"] + answered + sum(drops.values()):
                break
            time.sleep(0.1)
        check(f["rx_frames"] == f["rx_udp"] + answered + sum(drops.values()),
              "rx_frames %d != rx_udp + answered + drops: %r" % (f["rx_frames"], f))
        # (No answer here is larger than the MTU: one frame each.)
        check(f["tx_fragments"] == 0 and f["tx_frames"] == f["tx_udp"] + answered,
              "tx_frames %d != tx_udp + answered: %r" % (f["tx_frames"], f))
        # The SIP side: what netstack passed is what the pipeline received.
        check(f["rx_udp"] == c["rx_datagrams"], "rx_udp %d, pipeline rx_datagrams %d"
              % (f["rx_udp"], c["rx_datagrams"]))
        check(f["tx_udp"] == c["tx_responses"], "tx_udp %d, pipeline tx_responses %d"
              % (f["tx_udp"], c["tx_responses"]))
        # 2 REGISTERs over IPv4, 2 over IPv6, an INVITE and its ACK.
        check(f["rx_udp"] == 6 and f["tx_udp"] == 5, "6 SIP requests, 5 answers: %r" % f)
        # ARP before the first IPv4 datagram, ND before the first IPv6 one.
        check(f["arp_replies"] >= 1 and f["nd_adverts"] >= 1, "ARP and ND answered: %r" % f)
        if pinged:
            check(f["icmp_echo_replies"] == 2 and f["icmp6_echo_replies"] == 3,
                  "2 ICMP and 3 ICMPv6 echo replies: %r" % f)
        # Nothing damaged, nothing lost: the client sends finished
        # checksums and the node never ran out of mbufs or TX room.
        for k in ("drop_truncated", "drop_bad_header", "drop_ip_cksum", "drop_udp_cksum",
                  "drop_icmp_cksum", "drop_fragment", "drop_no_room", "drop_multiseg",
                  "tx_no_mbuf", "tx_full"):
            check(f[k] == 0, "%s = %d: %r" % (k, f[k], f))

    def threads_stay_off_the_worker_lcores():
        threads = env.threads()
        workers = {t: v for t, v in threads.items() if v[0].startswith("rte-worker-")}
        check(len(workers) == 1, "one worker lcore thread: %r" % threads)
        worker_cpus = set().union(*(cpus for _, cpus in workers.values()))
        check(worker_cpus == {1}, "the worker lcore on CPU 1 (-l 0,1): %r" % workers)
        names = [name for name, _ in threads.values()]
        for want in ("tandem-jobs", "tandem-rcu", "tandem-rcu-dpdk"):
            check(want in names, "a %s thread: %r" % (want, names))
        for tid, (name, cpus) in threads.items():
            if tid in workers:
                continue
            check(not cpus & worker_cpus, "thread %d (%s) may run on the workers' CPUs %s: %s"
                  % (tid, name, sorted(worker_cpus), sorted(cpus)))

    def sigterm_stops_with_exit_0():
        rc = env.stop()
        check(rc == 0, "tandemd exit status %r after SIGTERM:\n%s" % (rc, env.read_log()))
        check("[node] stopped" in env.read_log(), "the log says it stopped")

    if pinged:
        case("ping_over_ipv4_is_answered_after_arp", ping4)
        case("ping_over_ipv6_is_answered_after_neighbour_discovery", ping6)
    else:
        print("[SKIP] ping cases: ping is not installed (Debian: iputils-ping)")
    case("register_and_reregister_over_ipv4", register4)
    case("register_and_reregister_over_ipv6", register6)
    case("invite_to_registered_aor_is_redirected", redirect)
    case("netstack_counters_account_for_every_frame", netstack_counters)
    case("threads_stay_off_the_worker_lcores", threads_stay_off_the_worker_lcores)
    case("sigterm_stops_tandemd_with_exit_0", sigterm_stops_with_exit_0)
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
        print(env.read_log(), end="")
    except (Failure, subprocess.TimeoutExpired) as e:
        print("[FAIL] %s" % e, flush=True)
        rc = 1
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        rc = 1
    finally:
        env.down()
        leftover = sh("ip", "netns", "list", check=False).stdout
        if NS_R in leftover or NS_C in leftover:
            print("[FAIL] a namespace was left behind", flush=True)
            rc = 1
    print("took %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (len(results), 0 if rc == 0 else 1))
    return rc


if __name__ == "__main__":
    sys.exit(main())
