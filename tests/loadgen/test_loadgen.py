# SPDX-License-Identifier: MIT
"""End-to-end tests of tandem-loadgen against fake SIP servers (fakesip.py):
it must count exactly what it receives, answer digest challenges correctly,
follow RFC 3261's Call-ID / CSeq / retransmission rules, measure latency
sensibly, and always stop by itself."""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesip  # noqa: E402

BUILD_DIR = os.environ.get("TANDEM_BUILD_DIR",
                           os.path.join(os.path.dirname(__file__), "..", "..", "build"))
LOADGEN = os.path.join(BUILD_DIR, "tandem-loadgen")


def run(args, timeout=60):
    """Run the loadgen; returns (exit status, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    r = subprocess.run([LOADGEN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def run_json(server, *args, timeout=60):
    rc, out, err, secs = run(["--json", "--domain", "fake.example"] + list(args) + [server.target],
                             timeout)
    assert rc == 0, "loadgen exited %d: %s" % (rc, err)
    report = json.loads(out)
    report["_seconds"] = secs
    report["_stderr"] = err
    return report


class LoadgenTest(unittest.TestCase):
    def server(self, policy, host="127.0.0.1"):
        s = fakesip.FakeServer(policy, host)
        self.addCleanup(s.close)
        return s

    def ctr(self, report, name):
        return report["counters"][name]


class Counting(LoadgenTest):
    def test_every_answer_of_a_perfect_server_is_counted_once(self):
        s = self.server(fakesip.answer_all)
        r = run_json(s, "-a", 100, "-n", 1000, "-w", 20)
        self.assertEqual(self.ctr(r, "ops_started"), 1000)
        self.assertEqual(self.ctr(r, "ops_ok"), 1000)
        self.assertEqual(self.ctr(r, "responses"), 1000)
        self.assertEqual(self.ctr(r, "resp_2xx"), 1000)
        self.assertEqual(r["codes"], {"200": 1000})
        self.assertEqual(self.ctr(r, "ops_timeout") + self.ctr(r, "ops_failed"), 0)
        self.assertEqual(r["failure_pct"], 0)
        self.assertEqual(s.received, 1000)
        self.assertEqual(r["latency_us"]["count"], 1000)

    def test_a_server_dropping_every_tenth_aor_is_reported_as_ten_percent_timeouts(self):
        # Retransmissions on: the dropped AORs' retransmissions are dropped
        # too, so exactly their operations time out, each after 3 retransmits
        # (T1 = 500 ms: at 0.5, 1.5 and 3.5 s; timeout at 4 s). Each AOR
        # registers once (an AOR waiting for an answer is not used again).
        s = self.server(fakesip.drop_aors(10, 9))
        r = run_json(s, "-a", 1000, "-n", 1000, "-w", 50, "--timeout", "4s")
        self.assertEqual(self.ctr(r, "ops_started"), 1000)
        self.assertEqual(self.ctr(r, "ops_timeout"), 100)
        self.assertEqual(self.ctr(r, "ops_ok"), 900)
        self.assertAlmostEqual(r["failure_pct"], 10.0, places=6)
        self.assertEqual(self.ctr(r, "retransmissions"), 300)
        self.assertEqual(s.received, 1000 + 300)

    def test_dropping_every_tenth_datagram_without_retransmissions_is_ten_percent_timeouts(self):
        s = self.server(fakesip.drop_every_nth_datagram(10))
        r = run_json(s, "-a", 100, "-n", 1000, "-w", 10, "--no-retransmit",
                     "--timeout", "300ms")
        self.assertEqual(s.dropped, 100)
        self.assertEqual(self.ctr(r, "ops_timeout"), 100)
        self.assertEqual(self.ctr(r, "ops_ok"), 900)
        self.assertEqual(self.ctr(r, "retransmissions"), 0)
        self.assertAlmostEqual(r["failure_pct"], 10.0, places=6)

    def test_each_dropped_datagram_is_recovered_by_exactly_one_retransmission(self):
        s = self.server(fakesip.drop_every_nth_datagram(10))
        # A generous timeout: on a loaded machine the fake server (Python)
        # can fall seconds behind, and a late answer is no lost one.
        r = run_json(s, "-a", 100, "-n", 1000, "-w", 10, "--t1", "500ms", "--timeout", "20s")
        self.assertEqual(self.ctr(r, "ops_ok"), 1000, r["counters"])
        self.assertEqual(self.ctr(r, "ops_timeout"), 0)
        self.assertGreaterEqual(s.dropped, 100)
        self.assertEqual(self.ctr(r, "retransmissions"), s.dropped)
        self.assertEqual(s.received, 1000 + s.dropped)

    def test_every_response_class_and_code_is_counted(self):
        codes = [200, 302, 404, 486, 500, 603]
        s = self.server(fakesip.code_by_aor(codes))
        r = run_json(s, "-a", 60, "-n", 600, "-w", 10)
        self.assertEqual(r["codes"], {str(c): 100 for c in codes})
        for cls in "2345":
            self.assertEqual(self.ctr(r, "resp_%sxx" % cls), 100 * (2 if cls == "4" else 1))
        self.assertEqual(self.ctr(r, "resp_6xx"), 100)
        # A REGISTER succeeds with 2xx only.
        self.assertEqual(self.ctr(r, "ops_ok"), 100)
        self.assertEqual(self.ctr(r, "ops_failed"), 500)
        self.assertAlmostEqual(r["failure_pct"], 500 / 6, places=3)

    def test_duplicate_answers_are_stray_and_counted_once(self):
        def twice(server, req):
            return fakesip.answer_all(server, req) * 2
        s = self.server(twice)
        r = run_json(s, "-a", 50, "-n", 500, "-w", 5)
        self.assertEqual(self.ctr(r, "ops_ok"), 500)
        # The copies of the last answers may arrive after the run ended.
        self.assertEqual(self.ctr(r, "responses"), 500 + self.ctr(r, "stray"))
        self.assertGreaterEqual(self.ctr(r, "stray"), 490)
        self.assertEqual(r["codes"], {"200": self.ctr(r, "responses")})

    def test_garbage_datagrams_are_counted_as_malformed(self):
        def garbage_first(server, req):
            return [(0, b"\x00\xffnot SIP at all"), (0, b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n")] + \
                fakesip.answer_all(server, req)
        s = self.server(garbage_first)
        r = run_json(s, "-a", 10, "-n", 100, "-w", 2)
        self.assertEqual(self.ctr(r, "ops_ok"), 100)
        self.assertEqual(self.ctr(r, "malformed"), 200)

    def test_ipv6_target(self):
        s = self.server(fakesip.answer_all, host="::1")
        r = run_json(s, "-a", 20, "-n", 200, "-w", 5)
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        self.assertEqual(r["target"], "[::1]:%d" % s.port)
        via = s.requests[0].get("via")
        self.assertTrue(via.startswith("SIP/2.0/UDP [::1]:"), via)


class Protocol(LoadgenTest):
    def test_call_id_is_stable_per_aor_and_cseq_grows_by_one(self):
        s = self.server(fakesip.answer_all)
        run_json(s, "-a", 10, "-n", 50, "-w", 1)
        by_aor = {}
        for req in s.requests:
            self.assertEqual(req.method, "REGISTER")
            by_aor.setdefault(req.aor_user, []).append(req)
        self.assertEqual(sorted(by_aor), sorted("user%d" % i for i in range(10)))
        call_ids = set()
        for aor, reqs in by_aor.items():
            self.assertEqual(len({q.call_id for q in reqs}), 1, aor)
            self.assertEqual(len({q.from_tag for q in reqs}), 1, aor)
            self.assertEqual([q.cseq for q in reqs], [(n, "REGISTER") for n in range(1, 6)])
            self.assertEqual(len({q.get("contact") for q in reqs}), 1, aor)
            call_ids.add(reqs[0].call_id)
        self.assertEqual(len(call_ids), 10)
        self.assertEqual(len({q.branch for q in s.requests}), 50)
        for q in s.requests:
            self.assertTrue(q.branch.startswith("z9hG4bK"))
            self.assertIn(";rport", q.get("via"))
            self.assertEqual(q.uri, "sip:fake.example")
            self.assertEqual(q.get("expires"), "3600")
            self.assertEqual(q.get("to"), "<sip:%s@fake.example>" % q.aor_user)

    def test_retransmissions_repeat_the_request_byte_for_byte(self):
        s = self.server(fakesip.silent)
        r = run_json(s, "-a", 1, "-n", 1, "--t1", "100ms", "--timeout", "1s")
        # Timer E: 0.1, 0.3, 0.7 s (then T2 = 0.8 s would pass the timeout).
        self.assertEqual(self.ctr(r, "retransmissions"), 3)
        self.assertEqual(len({q.raw for q in s.requests}), 1)
        self.assertEqual(len(s.requests), 4)

    def test_non_invite_retransmissions_are_capped_at_t2(self):
        s = self.server(fakesip.silent)
        t0 = time.monotonic()
        r = run_json(s, "-a", 1, "-n", 1, "--t1", "50ms", "--t2", "100ms", "--timeout", "1s")
        # 0.05, then every 0.1 s: 0.15, 0.25, ... 0.95 -> 10 retransmissions.
        self.assertEqual(self.ctr(r, "retransmissions"), 10)
        self.assertEqual(self.ctr(r, "ops_timeout"), 1)
        self.assertLess(time.monotonic() - t0, 5)

    def test_invites_are_acked_with_the_to_tag_and_count_302_as_success(self):
        s = self.server(fakesip.answer_all)
        r = run_json(s, "-a", 20, "-n", 200, "-w", 4, "--invite-pct", 50)
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        self.assertEqual(r["codes"], {"200": 100, "302": 100})
        self.assertEqual(self.ctr(r, "acks"), 100)
        time.sleep(0.2)
        invites = {q.branch: q for q in s.requests if q.method == "INVITE"}
        acks = [q for q in s.requests if q.method == "ACK"]
        self.assertEqual(len(invites), 100)
        self.assertEqual(len(acks), 100)
        for ack in acks:
            inv = invites[ack.branch]           # same branch: non-2xx ACK
            self.assertEqual(ack.call_id, inv.call_id)
            self.assertEqual(ack.cseq, (inv.cseq[0], "ACK"))
            self.assertEqual(ack.to_tag, "fake1")
            self.assertEqual(ack.uri, inv.uri)

    def test_a_provisional_answer_stops_invite_retransmissions(self):
        def trying_then_302(server, req):
            if req.method == "ACK":
                return []
            return [(0, fakesip.response(req, 100)),
                    (0.5, fakesip.response(req, 302, ["Contact: <sip:x@192.0.2.1>"]))]
        s = self.server(trying_then_302)
        r = run_json(s, "-a", 5, "-n", 10, "-w", 10, "--invite-pct", 100, "--t1", "50ms",
                     "--timeout", "2s")
        self.assertEqual(self.ctr(r, "ops_ok"), 10)
        self.assertEqual(self.ctr(r, "resp_1xx"), 10)
        self.assertEqual(self.ctr(r, "retransmissions"), 0)
        self.assertGreaterEqual(r["latency_us"]["min"], 500000)


class Digest(LoadgenTest):
    def digest_run(self, policy_kw, *args):
        s = self.server(fakesip.digest(lambda i: "pw%d" % i, **policy_kw))
        r = run_json(s, "-a", 50, "-n", 200, "-w", 5, "-p", "pw%u", *args)
        return s, r

    def test_md5_digest_answer_is_accepted(self):
        s, r = self.digest_run({"algorithms": ("MD5",)})
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        self.assertEqual(s.state["verified"], 200)
        self.assertNotIn("bad", s.state)
        self.assertEqual(r["codes"], {"200": 200, "401": 200})
        self.assertEqual(self.ctr(r, "auth_answered"), 200)

    def test_sha256_digest_answer_is_accepted(self):
        s, r = self.digest_run({"algorithms": ("SHA-256",)})
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        self.assertEqual(s.state["verified"], 200)
        self.assertEqual(set(s.state["algs"]), {"SHA-256"})

    def test_digest_without_qop_uses_rfc2069_response(self):
        s, r = self.digest_run({"algorithms": ("MD5",), "qop": False})
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        self.assertEqual(s.state["verified"], 200)

    def test_the_first_offered_algorithm_is_answered_by_default(self):
        s, r = self.digest_run({"algorithms": ("SHA-256", "MD5")})
        self.assertEqual(set(s.state["algs"]), {"SHA-256"})
        s, r = self.digest_run({"algorithms": ("MD5", "SHA-256")})
        self.assertEqual(set(s.state["algs"]), {"MD5"})

    def test_auth_alg_md5_picks_md5_among_several_offers(self):
        s, r = self.digest_run({"algorithms": ("SHA-256", "MD5")}, "--auth-alg", "md5")
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        self.assertEqual(set(s.state["algs"]), {"MD5"})

    def test_a_wrong_password_is_reported_as_auth_failures_not_a_loop(self):
        s = self.server(fakesip.digest(lambda i: "pw%d" % i))
        r = run_json(s, "-a", 50, "-n", 100, "-w", 5, "-p", "nope%u")
        self.assertEqual(self.ctr(r, "ops_ok"), 0)
        self.assertEqual(self.ctr(r, "ops_failed"), 100)
        self.assertEqual(self.ctr(r, "auth_failed"), 100)
        # One challenge answered per operation, the second 401 ends it.
        self.assertEqual(self.ctr(r, "auth_answered"), 100)
        self.assertEqual(s.state["bad"], 100)

    def test_a_stale_nonce_is_answered_again(self):
        s, r = self.digest_run({"stale_first": True})
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        # 50 AORs: each Call-ID gets one stale=true, so 50 extra rounds.
        self.assertEqual(self.ctr(r, "auth_answered"), 250)

    def test_cseq_grows_across_the_challenge(self):
        s, r = self.digest_run({}, "-w", 1)
        by_aor = {}
        for req in s.requests:
            by_aor.setdefault(req.aor_user, []).append(req.cseq[0])
        for aor, seqs in by_aor.items():
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), aor)

    def test_reuse_nonce_sends_credentials_without_waiting_for_a_challenge(self):
        s, r = self.digest_run({}, "--reuse-nonce")
        self.assertEqual(self.ctr(r, "ops_ok"), 200)
        # One challenge per AOR, then nc counts up on the cached nonce.
        self.assertEqual(s.state["challenges"], 50)
        ncs = [q.auth()["nc"] for q in s.requests if q.auth()]
        self.assertIn("00000004", ncs)

    def test_proxy_authentication_of_invites(self):
        s = self.server(fakesip.digest(lambda i: "pw%d" % i, method="INVITE", proxy=True))
        r = run_json(s, "-a", 10, "-n", 40, "-w", 2, "-p", "pw%u", "--invite-pct", 100)
        self.assertEqual(self.ctr(r, "ops_ok"), 40)
        self.assertEqual(s.state["verified"], 40)
        # Each 407 and each 302 is ACKed.
        self.assertEqual(self.ctr(r, "acks"), 80)
        invites = [q for q in s.requests if q.method == "INVITE"]
        self.assertTrue(all(q.get("proxy-authorization") for q in invites if q.cseq[0] == 2))


class Measuring(LoadgenTest):
    def test_latency_percentiles_reflect_the_servers_delay(self):
        s = self.server(fakesip.delay_all(0.020))
        r = run_json(s, "-a", 50, "-n", 300, "-w", 10)
        lat = r["latency_us"]
        self.assertEqual(lat["count"], 300)
        self.assertGreaterEqual(lat["min"], 20000)
        self.assertGreaterEqual(lat["p50"], 20000)
        self.assertLess(lat["p50"], 35000)
        self.assertLessEqual(lat["p50"], lat["p90"])
        self.assertLessEqual(lat["p90"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["p99.9"])
        self.assertLessEqual(lat["p99.9"], lat["max"])
        self.assertEqual(sum(b[2] for b in r["histogram_us"]), 300)

    def test_open_loop_holds_the_offered_rate(self):
        s = self.server(fakesip.answer_all)
        r = run_json(s, "-a", 100, "-r", 400, "-d", "2500ms")
        # Operations at 0, 1/400, ... up to (not including) 2.5 s.
        self.assertEqual(self.ctr(r, "ops_started"), 1000)
        self.assertAlmostEqual(r["send_s"], 2.5, delta=0.1)
        self.assertEqual(self.ctr(r, "ops_skipped"), 0)
        self.assertAlmostEqual(r["rate"]["started"], 400, delta=10)

    def test_open_loop_counts_operations_it_could_not_start(self):
        # One slot, a server that never answers: all but the first due
        # operations within the timeout are skipped, and count as failures.
        s = self.server(fakesip.silent)
        r = run_json(s, "-a", 10, "-r", 100, "-d", "1s", "--max-outstanding", 1,
                     "--no-retransmit", "--timeout", "2s")
        self.assertEqual(self.ctr(r, "ops_started"), 1)
        self.assertGreaterEqual(self.ctr(r, "ops_skipped"), 95)
        self.assertEqual(r["failure_pct"], 100)

    def test_count_bound_starts_exactly_that_many(self):
        s = self.server(fakesip.answer_all)
        r = run_json(s, "-a", 7, "-n", 123, "-w", 3, "-t", 2)
        self.assertEqual(self.ctr(r, "ops_started"), 123)
        self.assertEqual(s.received, 123)

    def test_it_stops_by_itself_against_a_silent_server(self):
        s = self.server(fakesip.silent)
        r = run_json(s, "-a", 10, "-r", 50, "-d", "1s", "--t1", "100ms", "--timeout", "500ms",
                     timeout=20)
        self.assertLess(r["_seconds"], 3.0)
        self.assertEqual(self.ctr(r, "ops_ok"), 0)
        self.assertEqual(self.ctr(r, "ops_timeout"), self.ctr(r, "ops_started"))
        self.assertGreater(self.ctr(r, "retransmissions"), 0)

    def test_threads_and_sockets_spread_source_ports_and_keep_each_aor_on_one(self):
        s = self.server(fakesip.answer_all)
        r = run_json(s, "-a", 40, "-n", 400, "-w", 8, "-t", 2, "-s", 6)
        self.assertEqual(self.ctr(r, "ops_ok"), 400)
        ports = {q.src[1] for q in s.requests}
        self.assertEqual(len(ports), 6)
        per_aor = {}
        for q in s.requests:
            per_aor.setdefault(q.aor_user, set()).add(q.src[1])
        self.assertTrue(all(len(p) == 1 for p in per_aor.values()))

    def test_cpu_use_is_reported(self):
        s = self.server(fakesip.answer_all)
        r = run_json(s, "-a", 10, "-n", 500, "-w", 5)
        self.assertIn("cpu", r)
        self.assertGreaterEqual(r["cpu"]["user_s"] + r["cpu"]["sys_s"], 0)
        self.assertGreater(r["cpu"]["us_per_op"], 0)


class Interface(LoadgenTest):
    def test_text_report_names_the_percentiles(self):
        s = self.server(fakesip.answer_all)
        rc, out, err, _ = run(["-a", 10, "-n", 50, "--domain", "fake.example", s.target])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"operations\s+started 50, ok 50")
        for p in ("p50", "p90", "p99", "p99.9"):
            self.assertIn(p + " ", out)

    def test_json_file_and_quiet(self):
        import tempfile
        s = self.server(fakesip.answer_all)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.json")
            rc, out, err, _ = run(["-a", 10, "-n", 20, "-q", "--json-file", path, s.target])
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, "")
            with open(path) as f:
                self.assertEqual(json.load(f)["counters"]["ops_ok"], 20)

    def test_json_report_escapes_the_strings_from_the_command_line(self):
        # A backslash, a control byte and a non-ASCII letter in --domain
        # (quotes and blanks are refused): the report must still be JSON,
        # give the ASCII back exactly and other bytes by their values.
        s = self.server(fakesip.answer_all)
        domain = "fake\\ex\x01ample.\u00e9"
        rc, out, err, _ = run(["--json", "-a", 5, "-n", 5, "--domain", domain, s.target])
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.isascii(), out[:200])
        report = json.loads(out)
        self.assertEqual(report["domain"], "fake\\ex\x01ample.\u00c3\u00a9")
        self.assertEqual(report["target"], s.target)
        self.assertEqual(report["counters"]["ops_ok"], 5)

    def test_progress_lines_go_to_stderr(self):
        s = self.server(fakesip.answer_all)
        r = run_json(s, "-a", 10, "-r", 200, "-d", "1200ms", "--interval", "500ms")
        self.assertGreaterEqual(len(re.findall(r"started \d+/s", r["_stderr"])), 2)

    def test_usage_errors_exit_2_with_a_message(self):
        for args in ([], ["127.0.0.1:5060", "127.0.0.2:5060"], ["--rate", "0", "127.0.0.1:1"],
                     ["-r", "10", "-w", "5", "127.0.0.1:1"], ["-u", "user%s", "127.0.0.1:1"],
                     ["-u", "a%ub%u", "127.0.0.1:1"], ["--duration", "1.5s", "127.0.0.1:1"],
                     ["example.com:5060"], ["--cpus", "x", "127.0.0.1:1"],
                     ["-t", "4", "-a", "2", "127.0.0.1:1"]):
            rc, out, err, _ = run(args)
            self.assertEqual(rc, 2, args)
            self.assertIn("tandem-loadgen:", err, args)


if __name__ == "__main__":
    unittest.main(verbosity=2)
