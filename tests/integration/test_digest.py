#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Digest authentication over the wire with the default challenge order
(SHA-256, then MD5, RFC 8760), answered by a client written here from
RFC 7616: both algorithms register, a wrong password does not, and a nonce
from another Call-ID or an old one is refused the way the RFCs say."""

import hashlib
import re
import unittest

from harness import NodeTest, status_of, udp_request

USERS = "name,password,number\nalice,alicepw,100\n"

REGISTER = ("REGISTER sip:example.com SIP/2.0\n"
            "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-{cseq};rport\n"
            "Max-Forwards: 70\n"
            "To: <sip:alice@example.com>\nFrom: <sip:alice@example.com>;tag=dg\n"
            "Call-ID: {callid}\nCSeq: {cseq} REGISTER\n"
            "Contact: <sip:alice@127.0.0.1:5099>;expires=300\n"
            "{auth}Content-Length: 0\n\n")


def challenges(reply):
    """[(algorithm, nonce, stale)] of the WWW-Authenticate fields, in order."""
    out = []
    for line in reply.split("\r\n"):
        if line.startswith("WWW-Authenticate:"):
            alg = re.search(r"algorithm=([A-Za-z0-9-]+)", line).group(1)
            nonce = re.search(r'nonce="([^"]+)"', line).group(1)
            out.append((alg, nonce, "stale=true" in line))
    return out


def authorization(alg, nonce, password, user="alice", realm="example.com", uri="sip:example.com"):
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[alg]
    ha1 = h(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
    ha2 = h(("REGISTER:%s" % uri).encode()).hexdigest()
    resp = h(("%s:%s:00000001:c0ffee:auth:%s" % (ha1, nonce, ha2)).encode()).hexdigest()
    return ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=%s, qop=auth, nc=00000001, cnonce="c0ffee"\n'
            % (user, realm, nonce, uri, resp, alg))


class Digest(NodeTest):
    node_args = {"users": USERS, "sip": {"auth": "digest"}}

    def register(self, callid, cseq, auth=""):
        return udp_request(self.node, REGISTER.format(callid=callid, cseq=cseq, auth=auth))

    def test_challenge_offers_sha256_first(self):
        r = self.register("dg-1", 1)
        self.assertEqual(status_of(r), 401)
        self.assertEqual([c[0] for c in challenges(r)], ["SHA-256", "MD5"])

    def test_both_algorithms_authenticate(self):
        for i, alg in enumerate(("SHA-256", "MD5")):
            callid = "dg-ok-%d" % i
            nonce = dict((c[0], c[1]) for c in challenges(self.register(callid, 1)))[alg]
            r = self.register(callid, 2, authorization(alg, nonce, "alicepw"))
            self.assertEqual(status_of(r), 200, r)
        self.assertEqual(self.node.counter("auth_ok"), 2)
        self.assertEqual(len(self.node.contacts("alice")), 1)

    def test_wrong_password_is_challenged_again(self):
        nonce = challenges(self.register("dg-bad", 1))[0][1]
        r = self.register("dg-bad", 2, authorization("SHA-256", nonce, "nope"))
        self.assertEqual(status_of(r), 401)
        self.assertEqual(self.node.contacts("alice"), [])
        self.assertEqual(self.node.counter("auth_failed"), 1)

    def test_nonce_of_another_call_id_is_refused(self):
        nonce = challenges(self.register("dg-a", 1))[0][1]
        r = self.register("dg-b", 2, authorization("SHA-256", nonce, "alicepw"))
        self.assertEqual(status_of(r), 401)
        self.assertFalse(challenges(r)[0][2], "a foreign nonce is not stale, just wrong")

    def test_nonce_survives_a_restart(self):
        nonce = challenges(self.register("dg-r", 1))[0][1]
        self.assertEqual(self.node.stop(), 0)
        self.node.start()
        r = self.register("dg-r", 2, authorization("SHA-256", nonce, "alicepw"))
        self.assertEqual(status_of(r), 200, "the nonce key is kept in data_dir")


class ShortNonces(NodeTest):
    node_args = {"users": USERS, "sip": {"auth": "digest", "nonce_lifetime": "10s"}}

    def test_old_nonce_is_stale(self):
        import time
        nonce = challenges(udp_request(self.node, REGISTER.format(callid="dg-s", cseq=1, auth="")))[0][1]
        time.sleep(11.5)
        r = udp_request(self.node, REGISTER.format(callid="dg-s", cseq=2,
                                                   auth=authorization("SHA-256", nonce, "alicepw")))
        self.assertEqual(status_of(r), 401)
        self.assertTrue(all(c[2] for c in challenges(r)), "stale=true on every challenge: " + r)
        self.assertEqual(self.node.counter("auth_stale"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
