#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tandemd driven by sipp, a real SIP client: register, re-register,
unregister, Contact: *, query, 423, digest 401/200, redirect of an INVITE,
404 and 480, and registration and redirect over IPv6 (::1). Each outcome
is checked twice: by sipp (the status codes it expects) and through the
node's stats socket (the bindings stored)."""

import socket
import unittest

from harness import NodeTest, free_udp_port, has_ipv6_loopback, sipp, status_of

USERS = "name,password,number\nalice,alicepw,100\nbob,bobpw,200\n"


class SippRegistrar(NodeTest):
    node_args = {"users": USERS}

    def run_sipp(self, scenario, port=None, **variables):
        variables.setdefault("domain", "example.com")
        rc, out = sipp(self.node, scenario, variables, local_port=port)
        self.assertEqual(rc, 0, "sipp %s failed:\n%s\ntandemd log:\n%s" % (scenario, out, self.node.read_log()))

    def test_register_and_reregister_store_one_binding(self):
        port = free_udp_port()
        self.run_sipp("register.xml", port, user="alice", expires=300)
        contacts = self.node.contacts("alice")
        self.assertEqual(len(contacts), 1, contacts)
        self.assertEqual(contacts[0]["uri"], "sip:alice@127.0.0.1:%d" % port)
        self.assertGreater(contacts[0]["expires"], 290)
        self.assertLessEqual(contacts[0]["expires"], 300)
        self.assertEqual(contacts[0]["cseq"], 2, "the re-register (CSeq 2) refreshed it")
        self.assertEqual(contacts[0]["user_agent"], "sipp")
        stats = self.node.stats()
        self.assertEqual(stats["bindings"], 1)
        self.assertEqual(stats["counters"]["bindings_added"], 1)
        self.assertEqual(stats["counters"]["bindings_refreshed"], 1)

    def test_unregister_removes_the_binding(self):
        port = free_udp_port()
        self.run_sipp("register.xml", port, user="alice", expires=300)
        self.run_sipp("unregister.xml", port, user="alice")
        self.assertEqual(self.node.contacts("alice"), [])
        self.assertEqual(self.node.stats()["bindings"], 0)

    def test_contact_star_removes_every_binding(self):
        self.run_sipp("register.xml", free_udp_port(), user="alice", expires=300)
        self.run_sipp("register.xml", free_udp_port(), user="alice", expires=300)
        self.assertEqual(len(self.node.contacts("alice")), 2)
        self.run_sipp("unregister_all.xml", user="alice")
        self.assertEqual(self.node.contacts("alice"), [])
        self.assertEqual(self.node.counter("reg_unregisters"), 1)

    def test_query_returns_200_and_changes_nothing(self):
        self.run_sipp("register.xml", free_udp_port(), user="bob", expires=300)
        self.run_sipp("query.xml", user="bob")
        self.assertEqual(len(self.node.contacts("bob")), 1)
        self.assertEqual(self.node.counter("reg_queries"), 1)

    def test_interval_too_brief_is_423(self):
        self.run_sipp("register_423.xml", user="alice", expires=10)
        self.assertEqual(self.node.contacts("alice"), [])
        self.assertEqual(self.node.counter("reg_interval_too_brief"), 1)

    def test_invite_to_registered_aor_is_redirected(self):
        self.run_sipp("register.xml", free_udp_port(), user="alice", expires=300)
        self.run_sipp("invite_302.xml", user="alice")
        self.run_sipp("invite_302.xml", user="100")  # alice's number
        self.assertEqual(self.node.counter("redirect_302"), 2)
        self.assertEqual(self.node.counter("req_ack"), 2, "the ACKs were absorbed")

    def test_invite_to_known_user_without_binding_is_480(self):
        self.run_sipp("invite_480.xml", user="bob")
        self.assertEqual(self.node.counter("redirect_480"), 1)

    def test_invite_to_unknown_user_is_404(self):
        self.run_sipp("invite_404.xml", user="nobody")
        self.assertEqual(self.node.counter("redirect_404"), 1)


class SippDigest(NodeTest):
    # sipp 3.6 answers only MD5 challenges and takes the first one it is
    # given, so this node offers MD5 alone ([sip] auth_algorithms); the
    # default order, SHA-256 first, is covered by test_digest.py.
    node_args = {"users": USERS, "sip": {"auth": "digest", "auth_algorithms": "MD5"}}

    def test_digest_round_401_then_200(self):
        rc, out = sipp(self.node, "register_auth.xml",
                       {"domain": "example.com", "user": "alice", "password": "alicepw", "expires": 300})
        self.assertEqual(rc, 0, out + self.node.read_log())
        self.assertEqual(len(self.node.contacts("alice")), 1)
        c = self.node.stats()["counters"]
        self.assertEqual(c["auth_challenges"], 1)
        self.assertEqual(c["auth_ok"], 1)

    def test_digest_wrong_password_never_registers(self):
        rc, out = sipp(self.node, "register_auth.xml",
                       {"domain": "example.com", "user": "alice", "password": "wrong", "expires": 300},
                       timeout=5)
        self.assertNotEqual(rc, 0, "a wrong password must not get a 200")
        self.assertEqual(self.node.contacts("alice"), [])
        # sipp retransmits while it waits for the 200 it expects.
        self.assertGreaterEqual(self.node.counter("auth_failed"), 1)
        self.assertEqual(self.node.counter("auth_ok"), 0)

    def test_register_without_credentials_is_challenged(self):
        rc, out = sipp(self.node, "register.xml",
                       {"domain": "example.com", "user": "alice", "expires": 300}, timeout=5)
        self.assertNotEqual(rc, 0, "no credentials: 401, not 200")
        self.assertEqual(self.node.contacts("alice"), [])


@unittest.skipUnless(has_ipv6_loopback(), "this machine has no IPv6 loopback (::1)")
class SippIPv6(NodeTest):
    """The kernel socket back end over IPv6: tandemd listens on [::1]:port
    only, sipp registers from ::1, and a raw IPv6 socket is redirected."""

    node_args = {"users": USERS, "host": "::1"}

    def raw_request(self, method, user):
        """Send one request for user@example.com from a fresh ::1 socket;
        return (reply, the socket's port)."""
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
            s.settimeout(3)
            port = s.getsockname()[1]
            text = ("%s sip:%s@example.com SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP [::1]:%d;branch=z9hG4bK-v6-%s;rport\r\n"
                    "Max-Forwards: 70\r\n"
                    "To: <sip:%s@example.com>\r\n"
                    "From: <sip:caller@example.com>;tag=v6\r\n"
                    "Call-ID: v6-%s@[::1]\r\n"
                    "CSeq: 1 %s\r\n"
                    "Content-Length: 0\r\n\r\n"
                    % (method, user, port, method, user, method, method))
            s.sendto(text.encode(), ("::1", self.node.port))
            reply, peer = s.recvfrom(65535)
            self.assertEqual(peer[0], "::1")
            self.assertEqual(peer[1], self.node.port, "the answer comes from the SIP port")
            return reply.decode("utf-8", "replace"), port

    def test_node_reports_its_ipv6_listen_address(self):
        self.assertEqual(self.node.json("show info")["listen"], ["[::1]:%d" % self.node.port])

    def test_sipp_registers_over_ipv6_and_gets_200(self):
        port = free_udp_port("::1")
        rc, out = sipp(self.node, "register.xml",
                       {"domain": "example.com", "user": "alice", "expires": 300}, local_port=port)
        self.assertEqual(rc, 0, "sipp over IPv6 failed:\n%s\ntandemd log:\n%s"
                         % (out, self.node.read_log()))
        contacts = self.node.contacts("alice")
        self.assertEqual(len(contacts), 1, contacts)
        self.assertEqual(contacts[0]["uri"], "sip:alice@[::1]:%d" % port)
        self.assertEqual(contacts[0]["source"], "[::1]:%d" % port)
        self.assertEqual(self.node.counter("bindings_added"), 1)

    def test_invite_and_options_over_ipv6_are_redirected_to_the_ipv6_binding(self):
        port = free_udp_port("::1")
        rc, out = sipp(self.node, "register.xml",
                       {"domain": "example.com", "user": "alice", "expires": 300}, local_port=port)
        self.assertEqual(rc, 0, out)
        for method in ("INVITE", "OPTIONS"):
            reply, src_port = self.raw_request(method, "alice")
            self.assertEqual(status_of(reply), 302, reply)
            self.assertIn("\r\nContact: <sip:alice@[::1]:%d>" % port, reply)
            # RFC 3581 over IPv6: rport carries our source port.
            self.assertIn(";rport=%d" % src_port, reply)
            self.assertIn("CSeq: 1 %s\r\n" % method, reply)
        self.assertEqual(self.node.counter("redirect_302"), 2)
        reply, _ = self.raw_request("INVITE", "bob")
        self.assertEqual(status_of(reply), 480, "a known user without binding, over IPv6")


if __name__ == "__main__":
    unittest.main(verbosity=2)
