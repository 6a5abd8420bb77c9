#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The master/standby pair with two real tandemd processes on loopback and
sipp as the phone (issue 3): the standby diverts to the master while it
lives; `_STANDBY_` and `_ACTIVE_` appear; kill -9 the master and the standby
accepts registrations after failover_timeout and not before; restart the
master and after failback_hold the standby diverts again; a link cut shorter
than the timeout switches nothing; a wrong password or a duplicate name is
refused, logged on both sides, and causes no takeover."""

import os
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


class Basics(Pair):
    def test_standby_diverts_to_the_master_and_both_list_each_other(self):
        self.pair()
        # The phone (sipp) is sent to the master.
        rc, out = sipp(self.standby, "register_302.xml",
                       {"domain": "example.com", "user": "alice", "expires": 300})
        self.assertEqual(rc, 0, out)
        reply = register(self.standby)
        self.assertEqual(status_of(reply), 302)
        self.assertIn("Contact: <sip:127.0.0.1:%d>" % self.master.port, reply,
                      "the 302 names the master's SIP address")
        self.assertEqual(self.standby.contacts("alice"), [], "a diverting standby stores nothing")
        self.assertGreaterEqual(self.standby.counter("req_diverted"), 2)
        # The master serves.
        self.assertEqual(status_of(register(self.master)), 200)

        regs = self.master.registrations()
        self.assertEqual(regs[0]["aor"], "_STANDBY_")
        self.assertEqual(regs[0]["name"], "beta")
        regs = self.standby.registrations()
        self.assertEqual(regs[0]["aor"], "_ACTIVE_")
        self.assertEqual(regs[0]["name"], "alpha")

        # The round trip is known once a heartbeat has come back.
        wait_for(lambda: "rtt_ms" in self.master.json("show peers")["peers"][0], 5,
                 "a heartbeat round trip")
        peers = self.master.json("show peers")["peers"]
        self.assertEqual(peers[0]["state"], "up")
        self.assertEqual(peers[0]["tls_version"], "TLSv1.3")
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
        self.master.proc.send_signal(signal.SIGSTOP)
        time.sleep(FAILOVER * 0.6)
        self.master.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: self.role(self.standby)["peer_link"] == "logged in", 10,
                 "the link to come back")
        time.sleep(FAILOVER)
        role = self.role(self.standby)
        self.assertEqual(role["role"], "standby")
        self.assertEqual(role["takeovers"], 0, "a short cut must not cause a takeover")
        self.assertEqual(status_of(register(self.standby)), 302)


class Refusals(Pair):
    def test_wrong_password_is_refused_on_both_sides_and_causes_no_takeover(self):
        self.master = self.start_master()
        self.nodes.append(self.master)
        self.standby = self.start_standby(password="not the password")
        self.nodes.append(self.standby)
        wait_for(lambda: self.role(self.standby)["config_error"] != "", 10, "the refusal")
        time.sleep(FAILOVER + 1)
        role = self.role(self.standby)
        self.assertEqual(role["role"], "standby", "a master that refuses us is alive")
        self.assertIn("password", role["config_error"])
        self.assertEqual(status_of(register(self.standby)), 302)
        self.assertIn("password", self.master.read_log())
        self.assertIn("password", self.standby.read_log())
        self.assertEqual([r["aor"] for r in self.master.registrations()], [])

    def test_standby_with_the_masters_name_is_refused(self):
        self.master = self.start_master(name="same")
        self.nodes.append(self.master)
        self.standby = self.start_standby(name="same")
        self.nodes.append(self.standby)
        wait_for(lambda: self.role(self.standby)["config_error"] != "", 10, "the refusal")
        self.assertIn("name", self.role(self.standby)["config_error"])
        self.assertIn("name", self.master.read_log())
        self.assertEqual(self.role(self.standby)["role"], "standby")


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
