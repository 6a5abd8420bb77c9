#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The master/standby pair with two real tandemd processes on loopback and
sipp as the phone (issue 3): the standby diverts to the master while it
lives; `_STANDBY_` and `_ACTIVE_` appear; kill -9 the master and the standby
accepts registrations after failover_timeout and not before; restart the
master and after failback_hold the standby diverts again; a link cut shorter
than the timeout switches nothing; a hung master whose kernel still accepts
TCP is not "heard"; a cut during the failback hold restarts the hold; a
wrong password or a duplicate name is refused, logged on both sides (once,
not at every retry), and causes no takeover."""

import os
import re
import signal
import time
import unittest

from harness import Node, free_tcp_port, free_udp_port, sipp, status_of, udp_request

PASSWORD = "correct horse battery staple"
FAILOVER = 2.0
HOLD = 3.0
HEARTBEAT = 0.2


def register(node, user="alice", callid=None, expires=300):
    callid = callid or "pair-%s-%f" % (user, time.monotonic())
    return udp_request(node,
                       "REGISTER sip:example.com SIP/2.0\n"
                       "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-%d;rport\n"
                       "Max-Forwards: 70\n"
                       "To: <sip:%s@example.com>\nFrom: <sip:%s@example.com>;tag=p\n"
                       "Call-ID: %s\nCSeq: 1 REGISTER\n"
                       "Contact: <sip:%s@127.0.0.1:5999>;expires=%d\n\n"
                       % (int(time.monotonic() * 1e6), user, user, callid, user, expires),
                       timeout=0.5)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class Pair(unittest.TestCase):
    master_extra = {}
    standby_extra = {}

    def start_master(self, link_port=None, name="alpha", extra=None):
        self.link_port = link_port or self.link_port
        conf = {"node.password": PASSWORD,
                "pair.listen": "127.0.0.1:%d" % self.link_port,
                "pair.heartbeat_interval": "%dms" % (HEARTBEAT * 1000)}
        conf.update(self.master_extra)
        conf.update(extra or {})
        return Node(name=name, extra=conf)

    def start_standby(self, name="beta", password=PASSWORD, extra=None):
        conf = {"node.mode": "standby", "node.password": password,
                "pair.master": "127.0.0.1:%d" % self.link_port,
                "pair.failover_timeout": "%dms" % (FAILOVER * 1000),
                "pair.failback_hold": "%dms" % (HOLD * 1000),
                "pair.heartbeat_interval": "%dms" % (HEARTBEAT * 1000)}
        conf.update(self.standby_extra)
        conf.update(extra or {})
        return Node(name=name, extra=conf)

    def setUp(self):
        self.link_port = free_tcp_port()
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            rc = n.stop()
            log = n.read_log()
            n.close()
            if rc is not None:
                self.assertEqual(rc, 0, "%s did not exit cleanly:\n%s" % (n.name, log))
            self.assertNotIn("Sanitizer", log)

    def pair(self):
        self.master = self.start_master()
        self.nodes.append(self.master)
        self.standby = self.start_standby()
        self.nodes.append(self.standby)
        wait_for(lambda: self.standby.json("show role")["peer_link"] == "logged in", 10,
                 "the standby to log in")

    def role(self, node):
        return node.json("show role")

    def peer(self, node):
        return node.json("show peers")["peers"][0]

    def stopped(self, node):
        """Context: node's process is SIGSTOPped inside, and continued on the
        way out whatever happens (a stopped node cannot shut down)."""
        test = self

        class Stopped:
            def __enter__(self):
                node.proc.send_signal(signal.SIGSTOP)
                test.addCleanup(node.proc.send_signal, signal.SIGCONT)
                return time.monotonic()

            def __exit__(self, *exc):
                node.proc.send_signal(signal.SIGCONT)
                return False

        return Stopped()


ADDR = re.compile(r"^127\.0\.0\.1:(\d+)$")


def log_lines(node, needle):
    return [l for l in node.read_log().splitlines() if needle in l]


class Basics(Pair):
    def test_standby_diverts_to_the_master_and_both_list_each_other(self):
        self.pair()
        # The phone (sipp) is sent to the master.
        master_sip = "127.0.0.1:%d" % self.master.port
        rc, out = sipp(self.standby, "register_302.xml",
                       {"domain": "example.com", "user": "alice", "expires": 300,
                        "master": master_sip})
        self.assertEqual(rc, 0, "the 302 must name the master's SIP address %s:\n%s"
                         % (master_sip, out))
        # The scenario's check can fail: the same 302 against another address.
        rc, out = sipp(self.standby, "register_302.xml",
                       {"domain": "example.com", "user": "alice", "expires": 300,
                        "master": "127.0.0.1:%d" % (self.master.port ^ 1)})
        self.assertNotEqual(rc, 0, "register_302.xml accepted a Contact that does not "
                            "name the given master:\n" + out)
        reply = register(self.standby)
        self.assertEqual(status_of(reply), 302)
        self.assertIn("Contact: <sip:127.0.0.1:%d>" % self.master.port, reply,
                      "the 302 names the master's SIP address")
        self.assertEqual(self.standby.contacts("alice"), [], "a diverting standby stores nothing")
        self.assertGreaterEqual(self.standby.counter("req_diverted"), 2)
        # The master serves.
        self.assertEqual(status_of(register(self.master)), 200)

        # Each lists the other: the master its standby's link address (a
        # port the standby's kernel chose), the standby its master's.
        regs = self.master.registrations()
        self.assertEqual(regs[0]["aor"], "_STANDBY_")
        self.assertEqual(regs[0]["name"], "beta")
        m = ADDR.match(regs[0]["address"])
        self.assertTrue(m, "_STANDBY_ address: %r" % regs[0]["address"])
        self.assertNotEqual(int(m.group(1)), self.link_port, "the standby's own port")
        standby_addr = regs[0]["address"]
        regs = self.standby.registrations()
        self.assertEqual(regs[0]["aor"], "_ACTIVE_")
        self.assertEqual(regs[0]["name"], "alpha")
        self.assertEqual(regs[0]["address"], "127.0.0.1:%d" % self.link_port)
        self.assertEqual(regs[0]["contacts"], [])
        # since_s counts from the login, on both sides.
        t_seen = time.monotonic()
        since = {n.name: n.registrations()[0]["since_s"] for n in (self.master, self.standby)}
        for name, v in since.items():
            self.assertLessEqual(v, 5, "%s: logged in moments ago" % name)
        wait_for(lambda: all(n.registrations()[0]["since_s"] >= since[n.name] + 1
                             for n in (self.master, self.standby)), 3,
                 "since_s to count the seconds")
        self.assertGreaterEqual(time.monotonic() - t_seen, 0.0)

        # The round trip is known once a heartbeat has come back.
        wait_for(lambda: "rtt_ms" in self.master.json("show peers")["peers"][0], 5,
                 "a heartbeat round trip")
        peers = self.master.json("show peers")["peers"]
        self.assertEqual(peers[0]["state"], "up")
        self.assertEqual(peers[0]["tls_version"], "TLSv1.3")
        self.assertEqual(peers[0]["role"], "standby")
        self.assertEqual(peers[0]["name"], "beta")
        self.assertEqual(peers[0]["address"], standby_addr)
        self.assertEqual(peers[0]["listening"], "127.0.0.1:%d" % self.link_port)
        peer = self.peer(self.standby)
        self.assertEqual(peer["state"], "up")
        self.assertEqual(peer["role"], "master")
        self.assertEqual(peer["name"], "alpha")
        self.assertEqual(peer["address"], "127.0.0.1:%d" % self.link_port)
        self.assertEqual(peer["peer_fingerprint"], peers[0]["fingerprint"],
                         "each side shows the other's certificate")
        role = self.role(self.standby)
        self.assertEqual(role["role"], "standby")
        self.assertEqual(role["timer"], "failover")
        self.assertEqual(self.role(self.master)["role"], "active")
        metrics = self.standby.ctl("show metrics")
        self.assertIn("tandem_role_active 0\n", metrics)
        self.assertIn("tandem_pair_link_up 1\n", metrics)

    def test_failover_after_the_timeout_and_not_before_then_failback_after_the_hold(self):
        self.pair()
        self.assertEqual(status_of(register(self.standby)), 302)

        # The master dies.
        t0 = time.monotonic()
        self.master.proc.send_signal(signal.SIGKILL)
        self.master.proc.wait()
        first_200 = None
        while time.monotonic() - t0 < FAILOVER + 3:
            reply = register(self.standby)
            if reply and status_of(reply) == 200:
                first_200 = time.monotonic() - t0
                break
            self.assertEqual(status_of(reply), 302, "diverting until the takeover")
            time.sleep(0.05)
        self.assertIsNotNone(first_200, "the standby never took over")
        # The countdown starts at the last word heard: at most one heartbeat
        # (and a little scheduling) before the kill.
        self.assertGreaterEqual(first_200, FAILOVER - HEARTBEAT - 0.15,
                                "took over before failover_timeout")
        self.assertLess(first_200, FAILOVER + 1.0, "took over late")
        role = self.role(self.standby)
        self.assertEqual(role["role"], "active")
        self.assertEqual(role["epoch"], 1)
        self.assertNotIn("_ACTIVE_", [r["aor"] for r in self.standby.registrations()],
                         "no master logged in")
        with open(os.path.join(self.standby.dir, "data", "epoch")) as f:
            self.assertEqual(f.read().strip(), "1", "the epoch is persisted")

        # While active the standby grants at most active_max_expires (120s).
        self.assertLessEqual(self.standby.contacts("alice")[0]["expires"], 120)

        # The master returns: after failback_hold, the standby diverts again.
        self.master.start()
        wait_for(lambda: self.role(self.standby)["peer_link"] == "logged in", 10,
                 "the master to log in again")
        t1 = time.monotonic()
        back = None
        while time.monotonic() - t1 < HOLD + 3:
            reply = register(self.standby)
            if reply and status_of(reply) == 302:
                back = time.monotonic() - t1
                break
            time.sleep(0.05)
        self.assertIsNotNone(back, "the standby never handed back")
        self.assertGreaterEqual(back, HOLD - 0.3, "handed back before failback_hold")
        self.assertLess(back, HOLD + 1.5)
        role = self.role(self.standby)
        self.assertEqual(role["role"], "standby")
        self.assertEqual(role["epoch"], 1, "the epoch counts takeovers")
        self.assertEqual(role["takeovers"], 1)
        self.assertEqual(role["failbacks"], 1)
        self.assertEqual(self.role(self.master)["epoch"], 1, "the master adopted the epoch")

    def test_a_link_cut_shorter_than_the_timeout_switches_nothing(self):
        self.pair()
        losses = self.peer(self.standby)["counters"]["losses"]
        # Longer than the link's loss_timeout (1s: 5 heartbeats, at least
        # 1s), shorter than failover_timeout less a heartbeat.
        cut = 1.35
        silent_max = 0
        with self.stopped(self.master) as t0:
            while time.monotonic() - t0 < cut:
                silent_max = max(silent_max, self.role(self.standby)["peer_silent_ms"])
                time.sleep(0.05)
        wait_for(lambda: self.role(self.standby)["peer_link"] == "logged in", 10,
                 "the link to come back")
        # The cut was seen: the link was declared lost, the silence grew.
        self.assertGreater(self.peer(self.standby)["counters"]["losses"], losses,
                           "the standby did not detect the cut")
        self.assertGreaterEqual(silent_max, 900, "the standby kept hearing a stopped master")
        time.sleep(FAILOVER)
        role = self.role(self.standby)
        self.assertEqual(role["role"], "standby")
        self.assertEqual(role["epoch"], 0, "no takeover, no new epoch")
        self.assertEqual(role["takeovers"], 0, "a short cut must not cause a takeover")
        self.assertLess(role["peer_silent_ms"], 1000, "heartbeats flow again")
        self.assertEqual(self.role(self.master)["epoch"], 0)
        self.assertEqual(status_of(register(self.standby)), 302)

    def test_a_hung_master_that_still_accepts_tcp_is_not_heard(self):
        # A stopped master's kernel completes the standby's TCP handshakes;
        # its code answers nothing. The standby shows the connection, and
        # takes over on time all the same.
        self.pair()
        connected = None
        took_over = None
        with self.stopped(self.master) as t0:
            while time.monotonic() - t0 < FAILOVER + 3 and took_over is None:
                role = self.role(self.standby)
                if connected is None and role["peer_link"] == "connected":
                    connected = role
                if role["role"] == "active":
                    took_over = time.monotonic() - t0
                time.sleep(0.03)
            role = self.role(self.standby)
        self.assertIsNotNone(connected, "the standby never showed the link 'connected'")
        self.assertGreaterEqual(connected["peer_silent_ms"], 900,
                                "a TCP connection reset the silence")
        self.assertIsNotNone(took_over, "the standby never took over from a hung master")
        # The countdown runs from the last heartbeat (at most one interval
        # before the stop), not from the reconnection a second later.
        self.assertLess(took_over, FAILOVER + 0.6, "a TCP connection delayed the takeover")
        self.assertEqual(role["epoch"], 1)
        self.assertEqual(role["peer_link"], "connected")
        self.assertGreaterEqual(role["peer_silent_ms"], FAILOVER * 1000 - HEARTBEAT * 1000)
        self.assertTrue(log_lines(self.standby, "[role] connected to the master"),
                        self.standby.read_log())

    def test_a_cut_during_the_failback_hold_restarts_the_hold(self):
        self.pair()
        self.master.proc.send_signal(signal.SIGKILL)
        self.master.proc.wait()
        wait_for(lambda: self.role(self.standby)["role"] == "active", FAILOVER + 3,
                 "the takeover")
        self.master.start()
        wait_for(lambda: self.role(self.standby)["peer_link"] == "logged in", 10,
                 "the master to log in again")
        t_login = time.monotonic()
        role = self.role(self.standby)
        self.assertEqual(role["timer"], "failback_hold")
        time.sleep(1.0)
        # The master hangs for less than failover_timeout: the link is lost
        # (loss_timeout 1s) and comes back with a new login.
        with self.stopped(self.master):
            time.sleep(1.35)
        wait_for(lambda: self.role(self.standby)["peer_link"] == "logged in", 10,
                 "the master to log in after the cut")
        t_relogin = time.monotonic()
        role = self.role(self.standby)
        self.assertEqual(role["role"], "active", "a cut shorter than the timeouts")
        self.assertEqual(role["timer"], "failback_hold", "the hold runs again")
        self.assertGreater(role["timer_left_ms"], HOLD * 1000 - 500,
                           "the hold restarted from the new login")
        self.assertTrue(log_lines(self.standby, "failback hold cancelled"),
                        self.standby.read_log())
        # The hand-back comes failback_hold after the new login, not after
        # the first one (which would be t_login + HOLD).
        back = None
        while time.monotonic() - t_relogin < HOLD + 3:
            if self.role(self.standby)["role"] == "standby":
                back = time.monotonic()
                break
            time.sleep(0.05)
        self.assertIsNotNone(back, "the standby never handed back")
        self.assertGreaterEqual(back - t_relogin, HOLD - 0.3, "handed back before the new hold")
        self.assertGreater(back - t_login, HOLD + 1.5, "the first hold was not cancelled")
        role = self.role(self.standby)
        self.assertEqual(role["epoch"], 1)
        self.assertEqual(role["takeovers"], 1)
        self.assertEqual(role["failbacks"], 1)
        self.assertEqual(status_of(register(self.standby)), 302)


class Refusals(Pair):
    def check_refused(self, reason, code):
        """The master refuses the standby's login for reason (the start of
        the refusal text) and code: both sides show and log it, the standby
        retries, never takes over, and the retries do not flood the logs."""
        wait_for(lambda: self.role(self.standby)["config_error"] != "", 10, "the refusal")
        t0 = time.monotonic()
        time.sleep(FAILOVER + 1.5)
        for node, refused_by in ((self.standby, "peer"), (self.master, "us")):
            role = self.role(node)
            self.assertTrue(role["config_error"].startswith(reason), role)
            self.assertEqual(role["peer_link"], "refused", node.name)
            peer = self.peer(node)
            self.assertEqual(peer["state"], "refused", node.name)
            self.assertEqual(peer["refusal"], role["config_error"], node.name)
            self.assertEqual(peer["refused_by"], refused_by, node.name)
            self.assertEqual(peer["last_error"], role["config_error"], node.name)
            self.assertIn("tandem_pair_config_error 1\n", node.ctl("show metrics"))
        # show peers names the peer on the other end of the refusal.
        peer = self.peer(self.master)
        self.assertEqual(peer["name"], self.standby.name, "the refused standby")
        self.assertTrue(ADDR.match(peer["address"]), peer)
        self.assertEqual(self.peer(self.standby)["address"], "127.0.0.1:%d" % self.link_port)
        role = self.role(self.standby)
        self.assertEqual(role["role"], "standby", "a master that refuses us is alive")
        self.assertEqual(role["takeovers"], 0)
        self.assertEqual(role["epoch"], 0)
        self.assertTrue(role["peer_heard"])
        self.assertLess(role["peer_silent_ms"], FAILOVER * 1000, "each refusal is heard")
        self.assertEqual(status_of(register(self.standby)), 302)
        self.assertEqual([r["aor"] for r in self.master.registrations()], [])
        self.assertEqual([r["aor"] for r in self.standby.registrations()], [])
        # Both logs say why, with the code...
        for node, says in ((self.standby, "[role] login refused by the master: "),
                           (self.master, "[role] refused a standby's login: ")):
            lines = log_lines(node, says + reason)
            self.assertEqual(len(lines), 1, node.read_log())
            self.assertIn("(code %d)" % code, lines[0])
        # ...once, although the standby kept retrying (about once a second).
        retries = self.peer(self.standby)["counters"]["refusals"]
        self.assertGreaterEqual(retries, 3, "the standby retries after a refusal")
        self.assertLess(time.monotonic() - t0, 10, "within one log interval")
        for node in (self.standby, self.master):
            lines = log_lines(node, reason)
            self.assertLessEqual(len(lines), 3, "%s logs every refused retry (%d retries):\n%s"
                                 % (node.name, retries, "\n".join(lines)))

    def test_wrong_password_is_refused_on_both_sides_and_causes_no_takeover(self):
        self.master = self.start_master()
        self.nodes.append(self.master)
        self.standby = self.start_standby(password="not the password")
        self.nodes.append(self.standby)
        self.check_refused("wrong password", 1)
        self.assertTrue(log_lines(self.standby, "[pair] the master at 127.0.0.1:%d refused our "
                                  "login: wrong password (code 1)" % self.link_port))
        self.assertTrue(log_lines(self.master, "[pair] refused the login of standby 'beta' "
                                  "from 127.0.0.1:"))

    def test_standby_with_the_masters_name_is_refused(self):
        # The standby's configuration does not hold the master's name: the
        # rule "names differ" is enforced at login, by the master.
        self.master = self.start_master(name="same")
        self.nodes.append(self.master)
        self.standby = self.start_standby(name="same")
        self.nodes.append(self.standby)
        self.check_refused("same node name as the master", 2)


class Reject(Pair):
    standby_extra = {"pair.divert": "reject"}

    def test_divert_reject_answers_503_with_retry_after(self):
        self.pair()
        reply = register(self.standby)
        self.assertEqual(status_of(reply), 503)
        self.assertIn("Retry-After: ", reply)


class StandbyAlone(Pair):
    def test_standby_that_boots_without_its_master_takes_over(self):
        self.standby = self.start_standby()
        self.nodes.append(self.standby)
        t0 = time.monotonic()
        wait_for(lambda: self.role(self.standby)["role"] == "active", FAILOVER + 3, "the takeover")
        self.assertGreaterEqual(time.monotonic() - t0, FAILOVER - 0.5)
        self.assertEqual(status_of(register(self.standby)), 200)


class ConfigChecks(unittest.TestCase):
    def test_standby_with_a_dns_name_for_the_master_is_refused(self):
        node = Node(start=False, extra={"node.mode": "standby", "node.password": "x",
                                        "pair.master": "master.example.com:5070"})
        try:
            import subprocess
            from harness import TANDEMD
            r = subprocess.run([TANDEMD, "--config", node.config, "--check-config"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn("DNS name", r.stderr)
        finally:
            node.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
