#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tandemd with [io] mode = dpdk and a dpdk_args that cannot work: it must
exit with status 3 (start-up error) and a log line naming the cause, before
it opens its stats socket. And [io] workers = auto, which with DPDK means one
worker per worker lcore of dpdk_args.

Each case starts tandemd once, with --no-pci --no-shconf and a file prefix of
its own; none needs a NIC, a namespace or hugepages (the hugepage case runs
only on a machine that has none free, where it is the error an operator
meets first). Needs root (the EAL). Skips (exit 77) when the build has no
DPDK back end.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD_DIR = os.environ.get("TANDEM_BUILD_DIR",
                           os.path.join(os.path.dirname(__file__), "..", "..", "build"))
TANDEMD = os.path.join(BUILD_DIR, "tandemd")
SKIP = 77
EXIT_START = 3
BASE = "--no-pci --no-shconf --no-telemetry --log-level=error"


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_hugepages():
    """Free hugepages of every size (None: cannot tell)."""
    total, seen = 0, False
    for path in glob.glob("/sys/kernel/mm/hugepages/hugepages-*/free_hugepages"):
        with open(path) as f:
            total += int(f.read())
            seen = True
    return total if seen else None


class Daemon:
    def __init__(self, name, dpdk_args, workers):
        self.dir = tempfile.mkdtemp(prefix="tandem-dpdk-start-")
        self.prefix = "tandem-start-%d-%s" % (os.getpid(), name)
        self.socket = os.path.join(self.dir, "tandem.sock")
        self.conf = os.path.join(self.dir, "tandem.conf")
        with open(self.conf, "w") as f:
            f.write("[node]\nname = start\ndata_dir = %s\n\n" % os.path.join(self.dir, "data"))
            f.write("[sip]\nlisten = 198.51.100.1:5060\ndomain = example.com\n\n")
            f.write("[stats]\nsocket = %s\n\n" % self.socket)
            f.write("[io]\nmode = dpdk\n")
            if workers is not None:
                f.write("workers = %s\n" % workers)
            f.write("dpdk_args = %s --file-prefix=%s\n" % (dpdk_args, self.prefix))
        self.proc = None
        self.out = ""

    def run_to_exit(self, timeout=20):
        """Start tandemd and wait for it to exit; returns its status."""
        r = subprocess.run([TANDEMD, "--config", self.conf], capture_output=True, text=True,
                           timeout=timeout)
        self.out = r.stdout + r.stderr
        return r.returncode

    def start(self, timeout=20):
        self.proc = subprocess.Popen([TANDEMD, "--config", self.conf], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        lines = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if " ready: " in line:
                self.out = "".join(lines)
                return line
        self.proc.kill()
        self.proc.wait()
        self.out = "".join(lines)
        raise Failure("tandemd did not come up:\n" + self.out)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.out += self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc = None
        return rc

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
        shutil.rmtree("/var/run/dpdk/" + self.prefix, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def refused(name, dpdk_args, *needles, workers="1"):
    """A case: tandemd exits with status 3, its error line holds every
    needle, and it never got as far as its stats socket."""
    def fn():
        d = Daemon(name, dpdk_args, workers)
        try:
            rc = d.run_to_exit()
            check(rc == EXIT_START, "exit status %d, not %d:\n%s" % (rc, EXIT_START, d.out))
            errors = [l for l in d.out.splitlines() if " error " in l and "[node]" in l]
            check(errors and "start-up failed" in errors[-1], "no 'start-up failed':\n" + d.out)
            cause = errors[0]
            for n in needles:
                check(n in cause, "%r not in the error line %r\nfull output:\n%s"
                      % (n, cause, d.out))
            check(not os.path.exists(d.socket), "the stats socket was opened")
        finally:
            d.close()
    return fn


def auto_workers_follow_the_lcores():
    # Two lcores: the control thread on the first, one worker on the
    # second, whatever the machine's CPU count ("online CPUs - 1" before).
    d = Daemon("auto", "-l 0,1 --no-huge -m 256 %s --vdev=net_null0" % BASE, "auto")
    try:
        ready = d.start()
        check(", 1 dpdk worker," in ready, "one worker with -l 0,1: %r" % ready)
        rc = d.stop()
        check(rc == 0, "exit status %r after SIGTERM:\n%s" % (rc, d.out))
    finally:
        d.close()


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (the DPDK EAL)")
        return SKIP
    if not os.path.exists(TANDEMD):
        print("SKIP: %s not built" % TANDEMD)
        return SKIP
    probe = Daemon("probe", "-l 0,1 --no-huge -m 64 " + BASE, "1")
    try:
        probe.run_to_exit()
        if "no DPDK back end" in probe.out:
            print("SKIP: this tandemd has no DPDK back end")
            return SKIP
    finally:
        probe.close()

    cases = [
        ("unknown_eal_option_is_named",
         refused("opt", "-l 0,1 --no-huge -m 64 %s --no-such-option" % BASE,
                 "DPDK EAL initialisation failed", "--no-such-option",
                 "invalid EAL arguments")),
        ("stray_word_in_dpdk_args_is_named",
         refused("word", "-l 0,1 --no-huge -m 64 %s lcores" % BASE,
                 "\"lcores\" is not an EAL argument")),
        ("pool_larger_than_the_memory_is_explained",
         refused("mem", "-l 0,1 --no-huge -m 16 %s --vdev=net_null0" % BASE,
                 "cannot create a pool of", "raise -m")),
        ("no_port_is_explained",
         refused("port", "-l 0,1 --no-huge -m 64 %s" % BASE, "no DPDK port", "--vdev")),
        ("more_workers_than_lcores_is_explained",
         refused("lcores", "-l 0,1 --no-huge -m 256 %s --vdev=net_null0" % BASE,
                 "[io] workers = 2 but the EAL has 1 worker lcore", workers="2")),
        ("auto_workers_without_a_worker_lcore_is_explained",
         refused("auto0", "-l 0 --no-huge -m 64 %s" % BASE,
                 "[io] workers = auto", "no worker lcore", workers="auto")),
        ("auto_workers_follow_the_lcores", auto_workers_follow_the_lcores),
    ]
    free = free_hugepages()
    if free == 0:
        # Without --no-huge on a machine without hugepages: the EAL fails
        # with EACCES, root or not. The operator must read "hugepages".
        cases.insert(0, ("missing_hugepages_are_named",
                         refused("huge", "-l 0,1 -m 64 %s" % BASE,
                                 "DPDK EAL initialisation failed", "no usable hugepages",
                                 "docs/dpdk.md", "--no-huge")))
    else:
        print("[SKIP] missing_hugepages_are_named: this machine has %s free hugepages" % free)

    passed = failed = 0
    t0 = time.monotonic()
    for name, fn in cases:
        try:
            fn()
            passed += 1
            print("[ OK ] " + name, flush=True)
        except (Failure, subprocess.TimeoutExpired) as e:
            failed += 1
            print("[FAIL] %s: %s" % (name, e), flush=True)
    print("took %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
