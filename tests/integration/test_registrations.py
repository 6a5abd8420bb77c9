#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bindings table end to end, through real workers and the control
thread: two workers updating the same address-of-record at once lose no
update (copy-on-write with retry, docs/architecture.md), and a binding
past its expiry is removed by the control thread's sweep."""

import select
import socket
import time
import unittest

from harness import NodeTest, status_of, udp_request

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
