#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bindings table end to end, through real workers and the control
thread: two workers updating the same address-of-record at once lose no
update (copy-on-write with retry, docs/architecture.md), a binding
past its expiry is removed by the control thread's sweep, and walks of a
large table are spaced out."""

import os
import select
import socket
import subprocess
import time
import unittest

from harness import BUILD_DIR, NodeTest, status_of, udp_request

USERS = "name,password,number\nalice,alicepw,100\n"

SOURCES = 20           # source sockets: SO_REUSEPORT spreads them over the workers
ROUNDS = 250           # REGISTERs per source: 5000 in all
WINDOW = 8             # requests in flight per source
DEADLINE = 120.0       # seconds for the whole load, whatever happens
STALL = 10.0           # seconds without any answer: something was lost


def contact(port, n):
    return "sip:s%d-n%d@127.0.0.1:%d" % (port, n, port)


def register(port, n, call_id):
    """REGISTER round n of the source bound to port: its new contact
    (n) for 300 s, its previous one (n - 1) removed, in one request."""
    contacts = "<%s>;expires=300" % contact(port, n)
    if n > 0:
        contacts += ", <%s>;expires=0" % contact(port, n - 1)
    return ("REGISTER sip:example.com SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%d-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "To: <sip:alice@example.com>\r\n"
            "From: <sip:alice@example.com>;tag=%d\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d REGISTER\r\n"
            "Contact: %s\r\n"
            "Content-Length: 0\r\n\r\n"
            % (port, port, n, port, call_id, n + 1, contacts)).encode()


def listed_contacts(reply):
    """The contact URIs a 200 OK lists."""
    out = set()
    for line in reply.split("\r\n"):
        if line.startswith("Contact: <"):
            out.add(line[len("Contact: <"):line.index(">")])
    return out


class ConcurrentWorkers(NodeTest):
    # Room for one binding per source; a source replaces its binding in
    # one request, so the count never grows past SOURCES.
    node_args = {"users": USERS, "workers": 2, "sip": {"max_contacts": str(SOURCES)}}

    def test_two_workers_updating_one_aor_lose_no_update(self):
        socks = []
        try:
            for _ in range(SOURCES):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                s.setblocking(False)
                socks.append(s)
            dst = (self.node.host, self.node.port)
            # Per source: the next round to send and the next to be answered.
            # A source keeps WINDOW requests in flight so that both workers
            # always have work for the same AOR at the same time. Its
            # requests all go to one worker (same 4-tuple), which answers
            # them in order: round n is applied before round n + 1.
            state = {}
            for s in socks:
                port = s.getsockname()[1]
                state[s.fileno()] = {"sock": s, "port": port, "sent": 0, "acked": 0,
                                     "call_id": "conc-%d@127.0.0.1" % port}

            def send_more(st):
                while st["sent"] < ROUNDS and st["sent"] - st["acked"] < WINDOW:
                    st["sock"].sendto(register(st["port"], st["sent"], st["call_id"]), dst)
                    st["sent"] += 1

            for st in state.values():
                send_more(st)
            answered = 0
            deadline = time.monotonic() + DEADLINE
            last_progress = time.monotonic()
            active = set(state)
            while active:
                now = time.monotonic()
                self.assertLess(now, deadline, "the load did not finish in %.0fs (%d answered)"
                                % (DEADLINE, answered))
                # No retransmissions: a request sent again after a later one
                # was applied would bring its contact back. Loopback with
                # these few datagrams in flight does not drop them.
                self.assertLess(now - last_progress, STALL,
                                "no answer for %.0fs: datagrams lost (%d answered)"
                                % (STALL, answered))
                ready, _, _ = select.select([state[fd]["sock"] for fd in active], [], [], 0.1)
                for s in ready:
                    st = state[s.fileno()]
                    reply = s.recv(65535).decode("utf-8", "replace")
                    n = st["acked"]
                    self.assertIn("CSeq: %d REGISTER\r\n" % (n + 1), reply,
                                  "answers come in order, none lost")
                    self.assertEqual(status_of(reply), 200, reply)
                    listed = listed_contacts(reply)
                    # Every 200 OK lists the request's own change ...
                    self.assertIn(contact(st["port"], n), listed, reply)
                    if n > 0:
                        self.assertNotIn(contact(st["port"], n - 1), listed, reply)
                    # ... and every committed state holds at most one
                    # binding per source: a lost update would bring back
                    # a contact its source had already replaced.
                    owners = [uri.split("-n")[0] for uri in listed]
                    self.assertEqual(len(owners), len(set(owners)),
                                     "a source with two bindings: %s" % sorted(listed))
                    st["acked"] += 1
                    answered += 1
                    last_progress = now
                    if st["acked"] == ROUNDS:
                        active.discard(s.fileno())
                    send_more(st)
            self.assertEqual(answered, SOURCES * ROUNDS)
        finally:
            for s in socks:
                s.close()

        # No lost update: exactly the contact each source's last 200 OK
        # reported for it, one per source, and nothing older.
        expected = {contact(st["port"], ROUNDS - 1) for st in state.values()}
        stored = {c["uri"] for c in self.node.contacts("alice")}
        self.assertEqual(stored, expected,
                         "missing: %s\nstale: %s" % (sorted(expected - stored),
                                                     sorted(stored - expected)))
        stats = self.node.stats()
        self.assertLessEqual(len(stored), SOURCES, "within max_contacts")
        self.assertEqual(stats["bindings"], SOURCES)
        self.assertEqual(stats["aors"], 1)
        c = stats["counters"]
        self.assertEqual(c["reg_too_many_contacts"], 0)
        self.assertEqual(c["bindings_added"], SOURCES * ROUNDS)
        self.assertEqual(c["bindings_removed"], SOURCES * (ROUNDS - 1))
        # Both workers did part of the work (the kernel hashes the 4-tuple).
        per_worker = [w["rx_datagrams"] for w in stats["workers"]]
        self.assertEqual(len(per_worker), 2)
        self.assertTrue(all(n > 0 for n in per_worker),
                        "one worker got no traffic: %s" % per_worker)
        self.assertEqual(sum(per_worker), SOURCES * ROUNDS)
        # How often the two workers really collided (for the log).
        print("\nrx per worker %s, copy-on-write races retried %d" % (per_worker, c["reg_races"]))


class Expiry(NodeTest):
    # min_expires low enough for a 2-second registration.
    node_args = {"users": USERS, "sip": {"min_expires": "1"}}

    def test_binding_past_its_expiry_is_swept_and_counted(self):
        reply = udp_request(self.node, (
            "REGISTER sip:example.com SIP/2.0\n"
            "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-exp;rport\n"
            "Max-Forwards: 70\n"
            "To: <sip:alice@example.com>\nFrom: <sip:alice@example.com>;tag=e\n"
            "Call-ID: expiry@127.0.0.1\nCSeq: 1 REGISTER\n"
            "Contact: <sip:alice@127.0.0.1:5099>;expires=2\n"
            "Content-Length: 0\n\n"))
        registered = time.monotonic()
        self.assertEqual(status_of(reply), 200, reply)
        self.assertIn("<sip:alice@127.0.0.1:5099>;expires=2", reply)
        self.assertEqual(len(self.node.contacts("alice")), 1)
        self.assertEqual(self.node.counter("bindings_expired"), 0)
        before = self.node.stats()

        # The control thread looks once a second and walks the table when
        # a binding may have expired: the binding is gone within 2 s + one
        # look; allow generous slack on a loaded machine.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = self.node.stats()
            if stats["counters"]["bindings_expired"]:
                break
            time.sleep(0.2)
        self.assertEqual(stats["counters"]["bindings_expired"], 1)
        self.assertGreater(time.monotonic() - registered, 1.8, "not swept before its expiry")
        self.assertEqual(self.node.contacts("alice"), [])
        self.assertEqual(stats["aors"], 0, "the sweep removed the record, not just hid it")
        self.assertEqual(stats["bindings"], 0)
        self.assertEqual(stats["counters"]["aors_removed"], 1)
        self.assertGreater(stats["sweeps"], before["sweeps"], "a walk removed it")

    def test_the_table_is_walked_only_when_a_binding_may_have_expired(self):
        reply = udp_request(self.node, (
            "REGISTER sip:example.com SIP/2.0\n"
            "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-long;rport\n"
            "Max-Forwards: 70\n"
            "To: <sip:bob@example.com>\nFrom: <sip:bob@example.com>;tag=l\n"
            "Call-ID: long@127.0.0.1\nCSeq: 1 REGISTER\n"
            "Contact: <sip:bob@127.0.0.1:5098>;expires=3600\n"
            "Content-Length: 0\n\n"))
        self.assertEqual(status_of(reply), 200, reply)
        before = self.node.stats()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = self.node.stats()
            if stats["sweeps_skipped"] >= before["sweeps_skipped"] + 2:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(stats["sweeps_skipped"], before["sweeps_skipped"] + 2)
        self.assertEqual(stats["sweeps"], before["sweeps"],
                         "no walk while the only binding has an hour to live")
        self.assertEqual(len(self.node.contacts("bob")), 1)


def register_expiring(node, user, tag):
    """Register user with a binding that expires in 1 s."""
    reply = udp_request(node, (
        "REGISTER sip:example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-%s;rport\n"
        "Max-Forwards: 70\n"
        "To: <sip:%s@example.com>\nFrom: <sip:%s@example.com>;tag=%s\n"
        "Call-ID: %s@127.0.0.1\nCSeq: 1 REGISTER\n"
        "Contact: <sip:%s@127.0.0.1:5097>;expires=1\n"
        "Content-Length: 0\n\n" % (tag, user, user, tag, tag, user)))
    assert status_of(reply) == 200, reply


class SweepPacing(NodeTest):
    # A table large enough that one walk takes over 125 ms here (fewer
    # AORs under ThreadSanitizer, whose walks are that much slower).
    AORS = int(os.environ.get("TANDEM_TEST_SWEEP_AORS", "400000"))
    node_args = {"sip": {"min_expires": "1"}}

    def wait_for(self, key, above, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.node.stats()
            if stats[key] > above:
                return stats, time.monotonic()
            time.sleep(0.05)
        self.fail("%s stayed at %d for %.0f s" % (key, above, timeout))

    def test_a_long_walk_defers_the_next_one(self):
        # Walks take at most 1/20 of the control thread: after a walk of W
        # ms, the next comes no sooner than 20 W ms later, however many
        # bindings fall due meanwhile (bind_sweep_gap_ms()).
        loadgen = os.path.join(BUILD_DIR, "tandem-loadgen")
        r = subprocess.run([loadgen, "--domain", "example.com", "-a", str(self.AORS),
                            "-n", str(self.AORS), "-w", "512", "--expires", "3600",
                            "-d", "120s", "%s:%d" % (self.node.host, self.node.port)],
                           capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.node.stats()["aors"], self.AORS)

        before = self.node.stats()
        register_expiring(self.node, "first", "sp1")
        first, _ = self.wait_for("sweeps", before["sweeps"], 30)
        walk_ms = first["last_sweep_us"] / 1000.0
        # The walk went in steps of 2 048 records, one per turn of the
        # control loop (SWEEP_STEP_RECORDS in control/node.c).
        self.assertGreaterEqual(first["last_sweep_steps"], self.AORS // 2048)
        gap_s = walk_ms * 20 / 1000.0
        # The control thread looks once a second from the end of a walk;
        # the next binding falls due just after the first look, so only a
        # gap beyond the second look shows.
        if gap_s < 2.5:
            self.skipTest("a walk of %d AORs took %.0f ms here: too short for its "
                          "successor to wait beyond the 1 s ticks" % (self.AORS, walk_ms))
        # The first walk has just ended: due again 1 s from now, walked no
        # sooner than the gap after the first.
        register_expiring(self.node, "second", "sp2")
        t0 = time.monotonic()
        second, t1 = self.wait_for("sweeps", first["sweeps"], gap_s + 30)
        self.assertGreaterEqual(t1 - t0, gap_s - 0.5,
                                "walked %.1f s after a %.0f ms walk" % (t1 - t0, walk_ms))
        self.assertGreater(second["sweeps_deferred"], first["sweeps_deferred"],
                           "ticks with a binding due but no walk are counted")
        self.assertEqual(second["counters"]["bindings_expired"], 2)
        self.assertEqual(second["aors"], self.AORS)

if __name__ == "__main__":
    unittest.main(verbosity=2)
