#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Acceptance over the RFC 4475 torture messages (../shared/testdata/rfc4475).

Every message is sent unchanged as one UDP datagram to one tandemd process.
After each one, a known-good REGISTER must still get its 200 from the same
process. Each message's answer must be one the manifest allows for a
registrar and redirect server (see MANIFEST.md and docs/registrar.md), a
response is never answered, and the semantic cases hold (the bindings that
escnull, cparam01/02, regescrt and dblreq create; the ones that regbadct,
unksm2, scalar02 and esc02 must not create).

Replies go to the source address and the Via sent-by port (5060 when the
Via has none, RFC 3261 §18.2.2), so the test sends from port 5060 of a
loopback address of its own and also listens on 5050 (quotbal's Via port).
"""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Node, free_loopback_ip  # noqa: E402

TESTDATA = os.environ.get("TANDEM_TESTDATA",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                       "shared", "testdata"))
RFC4475 = os.path.join(TESTDATA, "rfc4475")

DROP = "drop"
# The files are sent in name order; an AOR registered by one file (regescrt
# registers sip:user@example.com) is redirected for the files after it.
# What each message may get from tandem. Valid requests never get 400; an
# INVITE never gets a 2xx; responses are dropped. Where the RFC allows
# either a 400 or liberal acceptance, both are listed.
EXPECT = {
    "wsinv.dat": {481},             # valid, but its To has a tag: a re-INVITE
                                    # of a dialog this server never had
    "intmeth.dat": {501},           # unknown method token
    "esc01.dat": {404},
    "escnull.dat": {200},           # REGISTER, two contacts
    "esc02.dat": {501},             # RE%47IST%45R is not REGISTER
    "lwsdisp.dat": {404},           # OPTIONS to a user: redirect server
    "longreq.dat": {404},
    "dblreq.dat": {200},            # REGISTER; trailing octets ignored
    "semiuri.dat": {404},
    "transports.dat": {302},    # sip:user@example.com, bound by regescrt.dat
    "mpart01.dat": {404},
    "unreason.dat": {DROP},         # responses are never answered
    "noreason.dat": {DROP},
    "badinv01.dat": {400, DROP},
    "clerr.dat": {400},
    "ncl.dat": {400},
    "scalar02.dat": {400},
    "scalarlg.dat": {DROP},
    "quotbal.dat": {400, DROP},
    "ltgtruri.dat": {400},
    "lwsruri.dat": {400, 404},
    "lwsstart.dat": {400, 404},
    "trws.dat": {400, 404},
    "escruri.dat": {400, 404},
    "baddate.dat": {400, 404},
    "regbadct.dat": {400},
    "badaspec.dat": {400, 404},
    "baddn.dat": {400, DROP},
    "badvers.dat": {505},
    "mismatch01.dat": {400},
    "mismatch02.dat": {400, 501},
    "bigcode.dat": {DROP},
    "badbranch.dat": {404},
    "insuf.dat": {400, DROP},
    "unkscm.dat": {416},
    "novelsc.dat": {416},
    "unksm2.dat": {400},
    "bext01.dat": {420},
    "invut.dat": {404},
    "regaut01.dat": {200},          # no auth configured: a query
    "multi01.dat": {400},
    "mcl01.dat": {400},
    "bcast.dat": {DROP},
    "zeromf.dat": {302},        # sip:user@example.com, bound by regescrt.dat
    "cparam01.dat": {200},
    "cparam02.dat": {200},
    "regescrt.dat": {200},
    "sdp01.dat": {302},         # sip:user@example.com, bound by regescrt.dat
    "inv2543.dat": {400, 404},
    "test.dat": {400, DROP},
}

GOOD_REGISTER = ("REGISTER sip:example.com SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-good-{n};rport\r\n"
                 "Max-Forwards: 70\r\n"
                 "To: <sip:canary@example.com>\r\n"
                 "From: <sip:canary@example.com>;tag=canary\r\n"
                 "Call-ID: canary-{n}@{ip}\r\n"
                 "CSeq: 1 REGISTER\r\n"
                 "Contact: <sip:canary@{ip}:5060>;expires=600\r\n"
                 "Content-Length: 0\r\n\r\n")


class Rfc4475(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # No domain: every domain of the torture messages is served.
        cls.node = Node(sip={"domain": ""})
        cls.ip = free_loopback_ip()
        cls.socks = []
        for port in (5060, 5050):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((cls.ip, port))
            cls.socks.append(s)
        cls.sock = cls.socks[0]
        cls.outcomes = {}
        cls.after = {}

    @classmethod
    def tearDownClass(cls):
        for s in cls.socks:
            s.close()
        rc = cls.node.stop()
        log = cls.node.read_log()
        cls.node.close()
        assert rc == 0, "tandemd did not exit cleanly:\n" + log
        assert "Sanitizer" not in log and "runtime error:" not in log, log

    def exchange(self, data, wait=0.5):
        """Send data, collect every reply that arrives within `wait`."""
        for s in self.socks:
            s.setblocking(False)
            while True:
                try:
                    s.recvfrom(65535)
                except BlockingIOError:
                    break
        self.sock.sendto(data, (self.node.host, self.node.port))
        replies = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for s in self.socks:
                try:
                    reply, _ = s.recvfrom(65535)
                    replies.append(reply)
                except BlockingIOError:
                    pass
            if replies and wait > 0.2:
                # One answer is all a datagram may get; keep listening a
                # little longer to catch a second one.
                deadline = min(deadline, time.monotonic() + 0.15)
            time.sleep(0.005)
        return replies

    def status(self, reply):
        line = reply.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        self.assertTrue(line.startswith("SIP/2.0 "), "not a response: %r" % line)
        return int(line.split(" ")[1])

    def canary(self, n):
        replies = self.exchange(GOOD_REGISTER.format(ip=self.ip, n=n).encode(), wait=2.0)
        self.assertEqual(len(replies), 1, "the known-good REGISTER after message %d got %d replies"
                         % (n, len(replies)))
        self.assertEqual(self.status(replies[0]), 200, replies[0])

    def test_every_message(self):
        files = sorted(f for f in os.listdir(RFC4475) if f.endswith(".dat"))
        self.assertEqual(len(files), 50, "the RFC 4475 archive has 50 messages")
        self.assertEqual(set(files), set(EXPECT), "every file has an expectation")
        failures = []
        for n, name in enumerate(files):
            with open(os.path.join(RFC4475, name), "rb") as f:
                data = f.read()
            replies = self.exchange(data)
            if len(replies) > 1:
                failures.append("%s: %d replies to one datagram" % (name, len(replies)))
            got = self.status(replies[0]) if replies else DROP
            self.outcomes[name] = (got, replies[0] if replies else b"")
            if got not in EXPECT[name]:
                failures.append("%s: got %s, expected one of %s" % (name, got, sorted(map(str, EXPECT[name]))))
            self.assertIsNone(self.node.proc.poll(), "tandemd died on " + name)
            if name in ("cparam01.dat", "cparam02.dat"):
                self.after[name] = [c["uri"] for c in self.node.contacts("sip:watson@example.com")]
            self.canary(n)
        for name, (got, _) in sorted(self.outcomes.items()):
            print("  %-16s %s" % (name, got))
        self.assertEqual(failures, [])
        self.check_semantics()

    def check_semantics(self):
        regs = {r["aor"]: r["contacts"] for r in self.node.registrations()}

        # escnull: the AOR keeps its %00, two distinct contacts.
        esc = regs.get("sip:null-%00-null@example.com")
        self.assertIsNotNone(esc, sorted(regs))
        self.assertEqual(sorted(c["uri"] for c in esc),
                         ["sip:%00%00@host5.example.com", "sip:%00@host5.example.com"])

        # cparam01/02: see check_after().
        self.assertEqual(self.after["cparam01.dat"], ["sip:+19725552222@gw1.example.net"],
                         "addr-spec form: ;unknownparam is a contact parameter")
        self.assertEqual(self.after["cparam02.dat"], ["sip:+19725552222@gw1.example.net;unknownparam"],
                         "inside <> it is a URI parameter; the URI equals cparam01's "
                         "(RFC 3261 §19.1.4 ignores a parameter only one side has), "
                         "so the binding is updated, not duplicated")

        # regescrt: the escaped header stays in the binding verbatim;
        # regbadct (the same URI as an addr-spec) and scalar02 added nothing.
        self.assertEqual([c["uri"] for c in regs.get("sip:user@example.com", [])],
                         ["sip:user@example.com?Route=%3Csip:sip.example.com%3E"])

        # dblreq: j.user registered once, the trailing INVITE ignored.
        self.assertEqual([c["uri"] for c in regs.get("sip:j.user@example.com", [])],
                         ["sip:j.user@host.example.com"])

        # bext01: Unsupported lists exactly the Require tags.
        self.assertIn(b"Unsupported: nothingSupportsThis, nothingSupportsThisEither",
                      self.outcomes["bext01.dat"][1])

        # Only the valid REGISTERs changed bindings: escnull, dblreq,
        # cparam01, cparam02, regescrt; plus one canary after each message.
        self.assertEqual(set(regs), {"sip:null-%00-null@example.com", "sip:watson@example.com",
                                     "sip:user@example.com", "sip:j.user@example.com",
                                     "sip:canary@example.com"})
        counters = self.node.stats()["counters"]
        self.assertEqual(counters["reg_updates"], 5 + len(self.outcomes), counters)
        self.assertEqual(counters["reg_queries"], 1, "regaut01 is a query")
        self.assertEqual(counters["tx_responses"],
                         len(self.outcomes) + sum(1 for g, _ in self.outcomes.values() if g != DROP))


if __name__ == "__main__":
    unittest.main(verbosity=2)
