# SPDX-License-Identifier: MIT
"""Smoke test of the benchmark commands: bench/run (micro and one short
socket scenario) and bench/compare-kamailio (tandem and Kamailio, both
auth modes, very short load steps), each with its results written into a
temporary directory. They must exit 0 and write their Markdown, JSON (and
for the comparison the gnuplot PNG) with a measurement in every place one
is expected. What the figures are is not checked: this proves the
commands work, not how fast tandem is. About 25 s in all."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("TANDEM_BUILD_DIR", os.path.join(ROOT, "build")))
KAMAILIO = "/usr/sbin/kamailio"


def run(cmd, timeout):
    r = subprocess.run([sys.executable] + cmd, capture_output=True, text=True, timeout=timeout,
                       cwd=ROOT)
    return r.returncode, r.stdout + r.stderr


class BenchTest(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="tandem-bench-smoke-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def path(self, name):
        return os.path.join(self.out, name)

    def load_runs(self):
        """Every loadgen report is JSON; returns them."""
        runs = sorted(os.listdir(self.path("runs")))
        self.assertTrue(runs, "no loadgen report in runs/")
        reports = []
        for name in runs:
            with open(os.path.join(self.path("runs"), name)) as f:
                reports.append(json.load(f))
        return reports


sys.path.insert(0, os.path.join(ROOT, "bench"))
import benchlib  # noqa: E402


class LoadgenBound(unittest.TestCase):
    """When the load generator, not the server, may have limited a
    maximum, the reports say so (benchlib.loadgen_bound)."""

    def test_a_saturated_load_generator_and_a_server_with_cpu_to_spare(self):
        s = {"loadgen_cpu_pct": 100, "server_cpu_pct": 86}
        self.assertTrue(benchlib.loadgen_bound(s))
        note = benchlib.loadgen_bound_note(s, "tandemd")
        self.assertIn("100 % of a CPU while tandemd used 86 %", note)

    def test_a_saturated_server_or_an_idle_load_generator_is_not_flagged(self):
        for lg, srv in ((100, 99), (99, 95), (80, 50), (None, 50), (100, None)):
            self.assertFalse(benchlib.loadgen_bound({"loadgen_cpu_pct": lg,
                                                     "server_cpu_pct": srv}), (lg, srv))


class SocketFloor(unittest.TestCase):
    """bench-socket-floor answers what a client matches a response by and
    nothing it should not: the floor's figures are only meaningful if the
    load generator counts its answers as registrations."""

    REGISTER = ("REGISTER sip:example.com SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-floor-1;rport\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"
                "To: <sip:alice@example.com>\r\nCall-ID: floor-1@127.0.0.1\r\n"
                "CSeq: 7 REGISTER\r\nContact: <sip:alice@127.0.0.1:5062>\r\n"
                "Content-Length: 0\r\n\r\n")

    def setUp(self):
        self.server = benchlib.SocketFloor(BUILD_DIR, tempfile.gettempdir()).start(10)
        self.addCleanup(self.server.stop)
        self.addCleanup(shutil.rmtree, self.server.dir, True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.3)

    def send(self, text):
        self.sock.sendto(text.encode(), ("127.0.0.1", self.server.port))

    def reply(self):
        try:
            return self.sock.recvfrom(65535)[0].decode()
        except socket.timeout:
            return None

    def test_a_request_gets_200_with_its_own_header_fields(self):
        req = self.REGISTER % self.sock.getsockname()[1]
        self.send(req)
        rep = self.reply()
        self.assertIsNotNone(rep, "no answer to a REGISTER")
        self.assertEqual(rep, "SIP/2.0 200 OK\r\n" + req.split("\r\n", 1)[1])

    def test_ack_responses_and_junk_get_no_answer_and_junk_is_counted(self):
        port = self.sock.getsockname()[1]
        self.send(self.REGISTER.replace("REGISTER sip", "ACK sip", 1) % port)
        self.send("SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n")
        self.send("\r\n\r\n")                                  # a keep-alive
        self.send("REGISTER sip:example.com SIP/2.0")            # no line end
        self.send(self.REGISTER % port)
        rep = self.reply()
        self.assertTrue(rep and rep.startswith("SIP/2.0 200 OK\r\nVia: "), rep)
        self.assertIn("CSeq: 7 REGISTER", rep)
        self.assertIsNone(self.reply(), "answered something but the REGISTER")
        self.server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.server.proc.wait(10), 0)
        with open(self.server.log_path) as f:
            self.assertIn("answered 2, dropped 3 (not a request)", f.read())


class BenchRun(BenchTest):
    def test_micro_one_socket_scenario_and_the_floor_write_their_results(self):
        rc, log = run(["bench/run", "--build", BUILD_DIR, "--only", "micro,socket-1w,floor",
                       "--repeat", "1", "--step", "0.3", "--aors", "100",
                       "--micro-runs", "1", "--budget", "90", "--out", self.out], 150)
        self.assertEqual(rc, 0, log)
        with open(self.path("results.md")) as f:
            md = f.read()
        self.assertIn("### Parse + process (one core, no I/O)", md)
        self.assertIn("| `register` |", md)
        self.assertIn("### Socket path, 1 worker, no auth", md)
        self.assertRegex(md, r"\| micro \| ran \|")
        self.assertRegex(md, r"\| socket-1w \| ran \|")
        with open(self.path("summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["scenarios"]["socket-1w"]["status"], "ran")
        socket = summary["summary"]["socket-1w"]
        self.assertGreater(socket["max"], 0, "no step passed: %s" % socket)
        self.assertGreater(socket["cpu_us"], 0)
        self.assertIsNotNone(socket["p99_80"])
        self.assertIsInstance(socket["loadgen_bound"], bool)
        if socket["loadgen_bound"]:
            self.assertIn("The load generator may have been the limit", md)
        # The hypervisor's steal over the step at 80 %: a share, reported.
        self.assertIsNotNone(socket["steal_80"])
        self.assertTrue(0 <= socket["steal_80"] <= 100, socket["steal_80"])
        self.assertIn("| CPU time stolen by the hypervisor in that step (busiest CPU) |", md)
        self.assertTrue(summary["curves"]["socket-1w"])
        # The floor, and tandem read against it.
        self.assertIn("### Socket floor (no SIP work), 1 worker", md)
        self.assertRegex(md, r"\| floor \| ran \|")
        self.assertGreater(summary["summary"]["floor"]["cpu_us"], 0)
        self.assertRegex(md, r"tandemd with 1 worker \(socket-1w above\) used [0-9.]+ µs "
                             r"per registration: -?[0-9.]+ µs above the floor")
        for rep in self.load_runs():
            self.assertEqual(rep["domain"], "example.com")
            # One share per CPU of the machine, each between 0 and 100 %.
            self.assertEqual(len(rep["steal_pct"]), os.cpu_count(), rep["steal_pct"])
            for v in rep["steal_pct"].values():
                self.assertTrue(0 <= v <= 100, rep["steal_pct"])
        self.assertGreater(os.path.getsize(self.path("curves.dat")), 0)
        self.assertGreater(os.path.getsize(self.path("micro.txt")), 0)
        # Nothing went into the source tree's results.
        self.assertNotIn(os.path.join(ROOT, "bench", "results"), md)

    def test_a_scenario_that_does_not_fit_the_budget_is_skipped_with_the_reason(self):
        rc, log = run(["bench/run", "--build", BUILD_DIR, "--only", "socket-2w",
                       "--budget", "1", "--out", self.out], 60)
        self.assertEqual(rc, 0, log)
        with open(self.path("results.md")) as f:
            md = f.read()
        self.assertRegex(md, r"\| socket-2w \| skipped \|")
        self.assertIn("time budget (--budget)", md)


class ExpiryWalk(unittest.TestCase):
    def test_one_walk_is_measured_in_steps(self):
        rc, log = run(["bench/scenarios/expiry-walk", "--build", BUILD_DIR, "--aors", "5000",
                       "--load", "2000"], 120)
        self.assertEqual(rc, 0, log)
        row = [line for line in log.splitlines() if line.startswith("| 1 |")]
        self.assertEqual(len(row), 1, log)
        cells = [c.strip() for c in row[0].strip("|").split("|")]
        # run, walk CPU ms, steps, slowest answer, records freed one by
        # one, load failures, p50, p99: 5 000 AORs go in 3 steps of 2 048.
        self.assertEqual(len(cells), 8, row)
        self.assertEqual(cells[2], "3", row)
        self.assertEqual(cells[4], "0", row)


class CompareKamailio(BenchTest):
    def test_both_servers_both_auth_modes_are_measured_and_plotted(self):
        self.assertTrue(os.access(KAMAILIO, os.X_OK),
                        "%s is missing: scripts/setup installs it (kamailio)" % KAMAILIO)
        self.assertTrue(shutil.which("gnuplot"),
                        "gnuplot is missing: scripts/setup installs it (gnuplot-nox)")
        rc, log = run(["bench/compare-kamailio", "--build", BUILD_DIR, "--repeat", "1",
                       "--step", "0.2", "--timeout", "0.5", "--aors", "100",
                       "--budget", "90", "--out", self.out], 150)
        self.assertEqual(rc, 0, log)
        with open(self.path("compare.md")) as f:
            md = f.read()
        self.assertIn("### No authentication", md)
        self.assertIn("### Digest authentication", md)
        self.assertIn("| CPU stolen at 80 % |", md)
        for ratio in ("tandem / Kamailio |", "tandem / Kamailio (auth_db + db_text) |",
                      "tandem / Kamailio (htable) |", "socket floor (no SIP work) / Kamailio |"):
            self.assertIn(ratio, md)
        self.assertIn("The socket floor answers every REGISTER", md)
        with open(self.path("summary.json")) as f:
            summary = json.load(f)["summary"]
        self.assertEqual(sorted(summary), ["floor/none", "kamailio-dbtext/digest",
                                           "kamailio-htable/digest", "kamailio-plain/none",
                                           "tandem/digest", "tandem/none"])
        for key, s in summary.items():
            self.assertGreater(s["max"], 0, "%s: no step passed: %s" % (key, s))
            self.assertGreater(s["cpu_us"], 0, key)
            self.assertIsInstance(s["loadgen_bound"], bool, key)
        for rep in self.load_runs():
            self.assertGreater(rep["counters"]["responses"], 0)
        with open(self.path("throughput.dat")) as f:
            self.assertEqual(f.read().count('offered "'), 6)
        with open(self.path("throughput.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
