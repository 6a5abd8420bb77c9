#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tandemd as a process: command line, start-up errors that name their
cause, clean shutdown on SIGTERM/SIGINT, and the stats socket through
tandemctl."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import TANDEMCTL, TANDEMD, Node, NodeTest, free_udp_port, status_of, udp_request


def run_tandemd(*args, timeout=10):
    return subprocess.run([TANDEMD] + list(args), capture_output=True, text=True, timeout=timeout)


def cpu_list(text):
    """The CPUs of a list such as "0-3,6"."""
    cpus = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def thread_cpus(pid):
    """Each thread of pid, and the CPUs it may run on."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    out[int(tid)] = cpu_list(line.split(":", 1)[1])
    return out


def thread_names(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            out[int(tid)] = f.read().strip()
    return out


def write_config(text):
    d = tempfile.mkdtemp(prefix="tandem-cfg-")
    path = os.path.join(d, "tandem.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


class CommandLine(unittest.TestCase):
    def test_version_and_help(self):
        r = run_tandemd("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^tandemd \d+\.\d+\.\d+")
        r = run_tandemd("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check-config", r.stdout)

    def test_no_config_is_a_usage_error(self):
        r = run_tandemd()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)

    def test_missing_config_file_names_the_file(self):
        r = run_tandemd("--config", "/nonexistent/tandem.conf")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/tandem.conf", r.stderr)

    def test_check_config_accepts_the_examples(self):
        for name in ("tandem.conf", "tandem-digest.conf"):
            path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", name)
            r = run_tandemd("--config", path, "--check-config")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("valid", r.stdout)

    def test_check_config_names_bad_key_and_bad_value(self):
        path = write_config("[sip]\ndefualt_expires = 60\nmin_expires = soon\n")
        r = run_tandemd("--config", path, "--check-config")
        self.assertEqual(r.returncode, 1)
        self.assertIn("defualt_expires", r.stderr)
        self.assertIn("default_expires", r.stderr, "a close key is suggested")
        self.assertIn("min_expires", r.stderr)
        self.assertIn(":2:", r.stderr, "the line is named")
        self.assertIn(":3:", r.stderr, "every problem is reported, not only the first")

    def test_check_config_reports_a_bad_users_file_row(self):
        d = tempfile.mkdtemp(prefix="tandem-cfg-")
        with open(os.path.join(d, "users.csv"), "w") as f:
            f.write("name,password\nalice,x\nalice,y\n")
        path = os.path.join(d, "tandem.conf")
        with open(path, "w") as f:
            f.write("[sip]\nauth = digest\nusers = users.csv\n")
        r = run_tandemd("--config", path, "--check-config")
        self.assertEqual(r.returncode, 1)
        self.assertIn("users.csv:3", r.stderr)


class StartUp(unittest.TestCase):
    def test_port_in_use_is_named_and_exits_nonzero(self):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))
            node = Node(sip={"listen": "127.0.0.1:%d" % port}, start=False)
            try:
                r = run_tandemd("--config", node.config)
                self.assertEqual(r.returncode, 3)
                self.assertIn("127.0.0.1:%d" % port, r.stderr)
                self.assertIn("in use", r.stderr)
            finally:
                node.close()

    def test_second_node_on_the_same_port_is_refused(self):
        first = Node()
        second = Node(start=False, sip={"listen": "127.0.0.1:%d" % first.port})
        try:
            r = run_tandemd("--config", second.config)
            self.assertEqual(r.returncode, 3, "SO_REUSEPORT must not let two nodes share a port")
            self.assertIn("in use", r.stderr)
            self.assertEqual(status_of(udp_request(first, OPTIONS)), 200,
                             "the first node is unaffected")
        finally:
            second.close()
            self.assertEqual(first.stop(), 0)
            first.close()

    def test_unwritable_data_dir_is_named(self):
        node = Node(start=False, extra={"node.data_dir": "/proc/tandem-cannot-be-here"})
        try:
            r = run_tandemd("--config", node.config)
            self.assertEqual(r.returncode, 3)
            self.assertIn("/proc/tandem-cannot-be-here", r.stderr)
        finally:
            node.close()

    def test_worker_that_cannot_be_pinned_is_a_warning_naming_the_cpu(self):
        # CPU 1023 is the highest [io] cpus accepts; this machine has fewer.
        if (os.cpu_count() or 1) > 1023:
            self.skipTest("this machine has a CPU 1023")
        node = Node(workers=2, extra={"io.cpus": "1023"})
        try:
            self.assertEqual(status_of(udp_request(node, OPTIONS)), 200,
                             "the node started and serves anyway")
            log = node.read_log()
            self.assertRegex(log, r"warning +\[io\] worker 0: cannot pin to CPU 1023 ")
            self.assertRegex(log, r"warning +\[io\] worker 1: cannot pin to CPU 1023 ")
            self.assertEqual(node.stop(), 0)
        finally:
            node.close()

    def test_threads_other_than_the_workers_keep_off_the_workers_cpus(self):
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2:
            self.skipTest("needs two CPUs")
        wcpu = allowed[-1]
        node = Node(workers=1, extra={"io.cpus": str(wcpu)})
        try:
            threads = thread_cpus(node.proc.pid)
            on_worker_cpu = [t for t, cpus in threads.items() if wcpu in cpus]
            self.assertEqual(len(on_worker_cpu), 1, "only the worker may use CPU %d: %s"
                             % (wcpu, threads))
            self.assertEqual(threads[on_worker_cpu[0]], {wcpu})
            self.assertEqual(threads[node.proc.pid], set(allowed) - {wcpu},
                             "the control thread has every other CPU")
            for name in ("tandem-rcu", "tandem-jobs"):
                self.assertIn(name, thread_names(node.proc.pid).values())
            self.assertRegex(node.read_log(), r"info +\[node\] the control, job and call_rcu "
                             r"threads run on CPUs ")
            self.assertEqual(status_of(udp_request(node, OPTIONS)), 200)
            self.assertEqual(node.stop(), 0)
        finally:
            node.close()

    def test_with_no_other_cpu_every_thread_shares_the_workers(self):
        allowed = sorted(os.sched_getaffinity(0))
        wcpu = allowed[-1]
        node = Node(workers=1, extra={"io.cpus": str(wcpu)}, affinity={wcpu})
        try:
            threads = thread_cpus(node.proc.pid)
            self.assertGreaterEqual(len(threads), 4)
            self.assertTrue(all(c == {wcpu} for c in threads.values()), threads)
            self.assertRegex(node.read_log(), r"no CPU outside the workers' \(%d\) in this "
                             r"process's CPU set" % wcpu)
            self.assertEqual(status_of(udp_request(node, OPTIONS)), 200)
            self.assertEqual(node.stop(), 0)
        finally:
            node.close()

    def test_sigint_is_a_clean_shutdown_too(self):
        node = Node()
        try:
            self.assertEqual(node.stop(signal.SIGINT), 0)
            self.assertIn("SIGINT", node.read_log())
            self.assertFalse(os.path.exists(node.socket), "the stats socket is removed")
        finally:
            node.close()


OPTIONS = ("OPTIONS sip:example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-opt;rport\n"
           "Max-Forwards: 70\nTo: <sip:example.com>\nFrom: <sip:probe@example.com>;tag=1\n"
           "Call-ID: opt-1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n")


class StatsSocket(NodeTest):
    node_args = {"workers": 2}

    def test_show_info_names_the_node(self):
        info = self.node.json("show info")
        self.assertEqual(info["name"], "node")
        self.assertEqual(info["mode"], "master")
        self.assertEqual(info["workers"], 2)
        self.assertEqual(info["listen"], ["127.0.0.1:%d" % self.node.port])
        text = self.node.ctl("show info")
        self.assertIn("name: node", text)

    def test_help_lists_the_commands(self):
        text = self.node.ctl("help")
        for cmd in ("show info", "show stats", "show registrations", "show metrics"):
            self.assertIn(cmd, text)

    def test_counters_are_summed_over_workers(self):
        for i in range(20):
            self.assertEqual(status_of(udp_request(self.node, OPTIONS)), 200)
        stats = self.node.stats()
        self.assertEqual(stats["counters"]["req_options"], 20)
        per_worker = sum(w["rx_datagrams"] for w in stats["workers"])
        self.assertEqual(per_worker, stats["counters"]["rx_datagrams"])
        self.assertEqual(len(stats["workers"]), 2)

    def test_metrics_are_prometheus_text(self):
        udp_request(self.node, OPTIONS)
        text = self.node.ctl("show metrics")
        self.assertIn("# TYPE tandem_req_options_total counter", text)
        self.assertRegex(text, r"\ntandem_req_options_total 1\n")
        self.assertIn("# TYPE tandem_bindings gauge", text)
        for line in text.splitlines():
            self.assertTrue(line.startswith("#") or " " in line, line)

    def test_record_pools_keep_spare_slabs_so_workers_need_no_malloc(self):
        # Each of the 3 pools (2 workers, the control thread) gets 8 spare
        # 128 KiB slabs at start; 200 new AORs fit in them, so no worker
        # has to allocate a slab itself.
        for i in range(200):
            reg = ("REGISTER sip:example.com SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-pool-%d;rport\r\n"
                   "Max-Forwards: 70\r\nTo: <sip:pool%d@example.com>\r\n"
                   "From: <sip:pool%d@example.com>;tag=%d\r\nCall-ID: pool-%d\r\n"
                   "CSeq: 1 REGISTER\r\nContact: <sip:pool%d@127.0.0.1:5999>\r\n"
                   "Content-Length: 0\r\n\r\n" % (i, i, i, i, i, i))
            self.assertEqual(status_of(udp_request(self.node, reg)), 200)
        stats = self.node.stats()
        self.assertEqual(stats["aors"], 200)
        self.assertGreater(stats["record_pool_bytes"], 0)
        self.assertGreaterEqual(stats["record_pool_reserve_bytes"], 3 * 8 * 128 * 1024 // 2)
        self.assertEqual(stats["record_pool_worker_mallocs"], 0)
        text = self.node.ctl("show metrics")
        self.assertIn("# TYPE tandem_record_pool_reserve_bytes gauge", text)
        self.assertRegex(text, r"\ntandem_record_pool_worker_mallocs_total 0\n")

    def test_the_records_refreshes_replace_are_recycled(self):
        # Every refresh replaces an AOR's record; the workers retire the old
        # ones in batches and take them back after a grace period. Once the
        # first records are built, thousands more refreshes need no new
        # memory: the pools stay the size they were. 3 800 refreshes are
        # more records than two 128 KiB slabs hold (at least 80 bytes each),
        # so a worker that never took its records back would need a slab
        # more however the kernel spreads the requests over the two.
        def refresh_all(round_):
            for i in range(100):
                reg = ("REGISTER sip:example.com SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-re-%d-%d;rport\r\n"
                       "Max-Forwards: 70\r\nTo: <sip:re%d@example.com>\r\n"
                       "From: <sip:re%d@example.com>;tag=%d\r\nCall-ID: re-%d\r\n"
                       "CSeq: %d REGISTER\r\nContact: <sip:re%d@127.0.0.1:5999>\r\n"
                       "Content-Length: 0\r\n\r\n" % (round_, i, i, i, i, i, round_ + 1, i))
                self.assertEqual(status_of(udp_request(self.node, reg)), 200)

        refresh_all(0)
        refresh_all(1)
        before = self.node.stats()["record_pool_bytes"]
        for round_ in range(2, 40):
            refresh_all(round_)
        stats = self.node.stats()
        self.assertEqual(stats["aors"], 100)
        self.assertEqual(stats["record_pool_bytes"], before)
        # Grace periods kept up: no record had to bypass the batches.
        self.assertEqual(stats["record_pool_retire_unbatched"], 0)
        self.assertRegex(self.node.ctl("show metrics"),
                         r"\ntandem_record_pool_retire_unbatched_total 0\n")

    def test_unknown_command_is_refused_with_nonzero_exit(self):
        r = self.node.ctl("show nonsense", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error", r.stderr)

    def test_tandemctl_without_a_node_says_so(self):
        r = subprocess.run([TANDEMCTL, "-s", "/nonexistent/tandem.sock", "show", "info"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/tandem.sock", r.stderr)

    def test_json_is_valid_for_every_show_command(self):
        for cmd in ("show info", "show stats", "show registrations", "show metrics"):
            json.loads(self.node.ctl(cmd + " json"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
