#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The kernel-socket back end's worker loop (dataplane/io_socket.c): a
worker blocked waiting for datagrams (in recvmmsg with one socket, in poll
with several) stops at once on SIGTERM; an idle worker uses no CPU after
its busy-poll window; traffic after a long idle period is answered; IPv4
and IPv6 on one node with several SO_REUSEPORT workers; counters add up."""

import os
import socket
import time
import unittest

from harness import Node, has_ipv6_loopback, hostport, status_of, udp_request

CLK_TCK = os.sysconf("SC_CLK_TCK")

OPTIONS = ("OPTIONS sip:example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP {via};branch=z9hG4bK-io{n};rport\n"
           "Max-Forwards: 70\nTo: <sip:example.com>\nFrom: <sip:probe@example.com>;tag=1\n"
           "Call-ID: io-{n}\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n")


def options(n, via="127.0.0.1"):
    return OPTIONS.format(n=n, via=via)


def cpu_seconds(pid):
    """utime + stime of every thread of the process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


SANITIZER_REPORTS = ("AddressSanitizer", "runtime error:", "ThreadSanitizer", "LeakSanitizer")


def assert_clean_stop(test, node, rc):
    """tandemd exited 0 and its log holds no sanitizer report."""
    log = node.read_log()
    test.assertEqual(rc, 0, "tandemd must exit 0 on SIGTERM; log:\n" + log)
    for bad in SANITIZER_REPORTS:
        test.assertNotIn(bad, log, "sanitizer report in the log:\n" + log)


def burst(node, count, via="127.0.0.1", family=socket.AF_INET, src="127.0.0.1", chunk=200):
    """Send count OPTIONS from one socket, chunk at a time as fast as
    possible, reading the chunk's answers (up to 5 s) before the next
    (so that no socket buffer overflows). Returns the number of 200s."""
    ok = 0
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((src, 0))
        s.settimeout(5.0)
        for first in range(0, count, chunk):
            n = min(chunk, count - first)
            for i in range(first, first + n):
                s.sendto(options(i, via).replace("\n", "\r\n").encode(),
                         (node.host, node.port))
            got = 0
            try:
                while got < n:
                    data, _ = s.recvfrom(65535)
                    got += 1
                    ok += data.startswith(b"SIP/2.0 200")
            except socket.timeout:
                pass
    return ok


class BlockedWorkerStops(unittest.TestCase):
    """SIGTERM while every worker waits for datagrams. The workers' wait is
    bounded at 10 s on its own, so a stop within the bound below shows that
    the stop path wakes them (shutdown() of their sockets, the eventfd)."""

    BOUND_S = 4.0

    def stop_promptly(self, node):
        time.sleep(1.0)   # every worker is past its busy-poll window: blocked
        t0 = time.monotonic()
        rc = node.stop(timeout=15)
        took = time.monotonic() - t0
        assert_clean_stop(self, node, rc)
        self.assertLess(took, self.BOUND_S, "tandemd took %.2f s to stop" % took)

    def test_one_socket_per_worker_blocked_in_recvmmsg(self):
        node = Node(workers=2)
        try:
            self.assertEqual(status_of(udp_request(node, options(1))), 200)
            self.stop_promptly(node)
        finally:
            node.close()

    def test_never_used_worker_stops(self):
        node = Node(workers=1)
        try:
            self.stop_promptly(node)
        finally:
            node.close()

    @unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback")
    def test_two_sockets_per_worker_blocked_in_poll(self):
        node = Node(workers=2, start=False)
        node.sip["listen"] = [hostport("127.0.0.1", node.port), hostport("::1", node.port)]
        node.write_config()
        try:
            node.start()
            self.assertEqual(status_of(udp_request(node, options(1))), 200)
            self.stop_promptly(node)
        finally:
            node.close()


class IdleWorker(unittest.TestCase):
    def test_idle_workers_use_no_cpu_after_traffic(self):
        node = Node(workers=2)
        try:
            # Traffic first, so that the busy-poll windows have widened.
            self.assertEqual(burst(node, 2000), 2000)
            time.sleep(0.5)
            c0 = cpu_seconds(node.proc.pid)
            time.sleep(3.0)
            used = cpu_seconds(node.proc.pid) - c0
            # Blocked workers use nothing; the control thread wakes for its
            # timers. 5 % of one CPU is generous.
            self.assertLess(used, 0.15, "idle node used %.2f s of CPU in 3 s" % used)
            # And it still answers after the idle period.
            self.assertEqual(status_of(udp_request(node, options(9))), 200)
            assert_clean_stop(self, node, node.stop())
        finally:
            node.close()


@unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback")
class BothFamilies(unittest.TestCase):
    def test_ipv4_and_ipv6_bursts_through_reuseport_workers(self):
        node = Node(workers=2, start=False)
        node.sip["listen"] = [hostport("127.0.0.1", node.port), hostport("::1", node.port)]
        node.write_config()
        try:
            node.start()
            self.assertEqual(burst(node, 500), 500)
            node.host = "::1"
            self.assertEqual(burst(node, 500, via="[::1]", family=socket.AF_INET6, src="::1"),
                             500)
            stats = node.stats()
            c = stats["counters"]
            self.assertEqual(c["req_options"], 1000)
            self.assertEqual(c["rx_datagrams"], 1000)
            self.assertEqual(c["tx_errors"], 0)
            self.assertEqual(sum(w["rx_datagrams"] for w in stats["workers"]), 1000)
            node.host = "127.0.0.1"
            assert_clean_stop(self, node, node.stop())
        finally:
            node.close()

    def test_wildcard_listen_answers_from_the_address_asked(self):
        # Bound to 0.0.0.0 the worker learns each datagram's destination
        # (IP_PKTINFO) and answers from it.
        node = Node(workers=1, start=False)
        node.sip["listen"] = [hostport("0.0.0.0", node.port)]
        node.write_config()
        try:
            node.start()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                s.settimeout(3.0)
                s.sendto(options(5).replace("\n", "\r\n").encode(), ("127.0.0.2", node.port))
                data, peer = s.recvfrom(65535)
            self.assertTrue(data.startswith(b"SIP/2.0 200"), data[:40])
            self.assertEqual(peer[0], "127.0.0.2")
            assert_clean_stop(self, node, node.stop())
        finally:
            node.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
