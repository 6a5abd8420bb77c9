# SPDX-License-Identifier: MIT
"""Shared code of bench/run and bench/compare-kamailio: starting the servers
under test (tandemd from the build directory, Kamailio from Debian) on
loopback, driving them with tandem-loadgen, reading their CPU time and
memory from /proc, finding the highest sustained rate by stepping the
offered load, and writing Markdown tables.

Everything here is bounded in time: every process has a deadline and is
stopped (by its own pid, or its own process group) when the benchmark ends,
even on an error, Ctrl-C or SIGTERM; a command's Budget (a deadline for the
whole command) stops a search from starting a step it has no time for.
"""

import datetime
import hashlib
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
KAMAILIO = "/usr/sbin/kamailio"
KAMAILIO_CFG = os.path.join(ROOT, "bench", "kamailio", "registrar.cfg")
DOMAIN = "example.com"

# A step passes when fewer than this share of its operations fail (timeouts,
# error answers, operations the loadgen could not start) and fewer than this
# share of its requests needed a retransmission.
MAX_FAILURE_PCT = 0.1
# Transaction timing of the benchmark runs: RFC 3261's T1, and the default
# timeout after which an unanswered request counts as a failure.
T1 = "500ms"
TIMEOUT_S = 2.0
# Wall time of one load step beyond its duration: starting the load
# generator, its report, reading /proc. A step with missing answers also
# waits up to TIMEOUT_S for them.
STEP_OVERHEAD_S = 0.3

# Every loadgen run of a command gets the next number (its JSON file's
# prefix), so that runs/ lists them in the order they ran.
_run_numbers = itertools.count(1)


class Budget:
    """A command's time budget: a deadline on the monotonic clock. Work
    that does not fit in what is left is not started (and reported as
    skipped); nothing is cut in the middle of a load step."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.start = time.monotonic()
        self.deadline = self.start + seconds

    def elapsed(self):
        return time.monotonic() - self.start

    def left(self):
        return self.deadline - time.monotonic()

    def fits(self, seconds):
        return self.left() >= seconds


def no_budget():
    return Budget(float("inf"))


def on_sigterm_raise():
    """Turn SIGTERM into KeyboardInterrupt, so that the finally blocks that
    stop the servers run when a harness (bench/run's time limit, meson
    test) terminates the command."""
    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, handler)


def log(msg):
    print(msg, flush=True)


def build_dir(path=None):
    d = path or os.environ.get("TANDEM_BUILD_DIR") or os.path.join(ROOT, "build")
    return os.path.abspath(d)


def allowed_cpus():
    """The CPUs this process may run on (a container or a cgroup may allow
    fewer, or other ones, than the machine has), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def ncpus():
    return len(allowed_cpus())


def cpu(i):
    """The i-th allowed CPU: the layouts say "CPU 0" and "CPU 1" for the
    first two CPUs this process may use."""
    return allowed_cpus()[i]


def free_udp_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_tcp_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---- /proc -----------------------------------------------------------------

def proc_stat(pid):
    """(ppid, utime, stime in seconds) of one process (all its threads), or
    None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def pid_tree(root):
    """root and all its descendants (Kamailio forks every worker from its
    main process)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                children.setdefault(st[0], []).append(int(name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    """(user, system) CPU seconds of the processes (all their threads)."""
    user = system = 0.0
    for p in pids:
        st = proc_stat(p)
        if st:
            user += st[1]
            system += st[2]
    return user, system


def cpu_ticks():
    """Per CPU, (ticks in all, ticks stolen) from /proc/stat. Steal is the
    time a virtual CPU was ready but the hypervisor ran something else:
    on a shared virtual machine it stalls whatever runs on that CPU for
    milliseconds, which no server can hide from its latency."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *v = line.split()
            if name.startswith("cpu") and name != "cpu":
                # user nice system idle iowait irq softirq steal (guest
                # time is already in user and nice)
                t = [int(x) for x in v[:8]]
                out[int(name[3:])] = (sum(t), t[7] if len(t) > 7 else 0)
    return out


def steal_pct(before, after):
    """The share of each CPU's time stolen between two cpu_ticks()."""
    out = {}
    for c, (t1, s1) in after.items():
        t0, s0 = before.get(c, (t1, s1))
        out[c] = 100.0 * (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
    return out


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def machine():
    """A description of this machine for the results."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return {
        "cpu": model,
        "cpus": ncpus(),
        "memory_mib": mem,
        "kernel": platform.release(),
        "os": _os_release(),
        "load": os.getloadavg(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def git_revision():
    try:
        r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


# ---- servers ---------------------------------------------------------------

def write_users_csv(path, n, user="user%d", password="pw%d"):
    with open(path, "w") as f:
        f.write("name,password\n")
        for i in range(n):
            f.write("%s,%s\n" % (user % i, password % i))


class Server:
    """A SIP server process under test."""

    name = "server"
    proc = None

    def target(self):
        return "127.0.0.1:%d" % self.port

    def pids(self):
        return pid_tree(self.proc.pid)

    def cpu(self):
        return sum(cpu_seconds(self.pids()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


def taskset(cpus):
    if not cpus or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", ",".join(str(c) for c in cpus)]


class OneProcess(Server):
    """A server that is one process (its threads included), stopped with
    SIGTERM. Subclasses set cmd, log_path and program, and say when the
    process is ready()."""

    program = "server"

    def ready(self):
        raise NotImplementedError

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d:\n%s" % (self.program,
                                                               self.proc.returncode,
                                                               self.log_tail()))
            if self.ready():
                return self
            time.sleep(0.05)
        raise RuntimeError("%s did not come up in %ds:\n%s" % (self.program, timeout,
                                                               self.log_tail()))

    def pids(self):
        return [self.proc.pid]

    def rss_kib(self):
        return vmrss_kib(self.proc.pid)

    def terminate(self):
        """Ask it to stop, without waiting (stop() waits)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None


class Tandem(OneProcess):
    """tandemd from the build directory, one node, on 127.0.0.1."""

    program = "tandemd"

    def __init__(self, build, workdir, workers=1, worker_cpus=None, process_cpus=None,
                 auth="none", users=0, algorithms="MD5", label=None, min_expires=60):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="tandem-", dir=workdir)
        self.port = free_udp_port()
        self.workers = workers
        self.name = label or "tandem"
        self.socket = os.path.join(self.dir, "tandem.sock")
        self.log_path = os.path.join(self.dir, "tandemd.log")
        conf = os.path.join(self.dir, "tandem.conf")
        # The expiry rules are written out (they are tandem's defaults) because
        # bench/kamailio/registrar.cfg sets the same ones for Kamailio.
        sip = ["listen = 127.0.0.1:%d" % self.port, "domain = " + DOMAIN, "auth = " + auth,
               "default_expires = 3600", "min_expires = %d" % min_expires,
               "max_expires = 7200",
               "max_contacts = 10"]
        if auth == "digest":
            users_path = os.path.join(self.dir, "users.csv")
            write_users_csv(users_path, users)
            sip += ["users = " + users_path, "auth_algorithms = " + algorithms]
        io = ["mode = socket", "workers = %d" % workers]
        if worker_cpus:
            io.append("cpus = " + ",".join(str(c) for c in worker_cpus))
        with open(conf, "w") as f:
            f.write("[node]\nname = bench\ndata_dir = %s\nlog_level = warning\n\n"
                    % os.path.join(self.dir, "data"))
            f.write("[sip]\n" + "\n".join(sip) + "\n\n")
            f.write("[stats]\nsocket = %s\n\n" % self.socket)
            f.write("[io]\n" + "\n".join(io) + "\n")
        self.cmd = taskset(process_cpus) + [os.path.join(build, "tandemd"), "--config", conf]
        self.conf = conf

    def ready(self):
        return os.path.exists(self.socket) and self.ctl("show info") is not None

    def ctl(self, command):
        r = subprocess.run([os.path.join(self.build, "tandemctl"), "-s", self.socket]
                           + command.split(), capture_output=True, text=True, timeout=30)
        return r.stdout if r.returncode == 0 else None

    def stats(self):
        out = self.ctl("show stats json")
        return json.loads(out) if out else None


class Kamailio(Server):
    """Kamailio 5.6 with bench/kamailio/registrar.cfg: its own directory,
    pid file and runtime directory, in the foreground, logging to stderr
    (no syslog), in its own process group."""

    def __init__(self, workdir, workers=1, process_cpus=None, auth="none", users=0,
                 backend="dbtext", shm_mib=1024, label=None):
        self.dir = tempfile.mkdtemp(prefix="kamailio-", dir=workdir)
        self.port = free_udp_port()
        self.workers = workers
        self.name = label or "kamailio"
        self.log_path = os.path.join(self.dir, "kamailio.log")
        run_dir = os.path.join(self.dir, "run")
        db_dir = os.path.join(self.dir, "dbtext")
        os.makedirs(run_dir)
        os.makedirs(db_dir)
        defines = []
        if auth == "digest":
            write_kamailio_users(db_dir, users)
            defines = ["-A", "WITH_AUTH", "-A", "AUTH_HTABLE" if backend == "htable"
                       else "AUTH_DBTEXT", "-A", 'DBTEXT_DIR="text://%s"' % db_dir]
        self.cmd = taskset(process_cpus) + [
            KAMAILIO, "-f", KAMAILIO_CFG,
            "-DD",                      # foreground, still forking workers
            "-E",                       # log to stderr, not syslog
            "-l", "udp:127.0.0.1:%d" % self.port,
            "-n", str(workers),         # UDP worker processes
            "-m", str(shm_mib),         # shared memory (usrloc lives there)
            "-M", "16",                 # private memory per process
            "-P", os.path.join(run_dir, "kamailio.pid"),
            "-Y", run_dir,
            "-w", self.dir,
        ] + defines

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kamailio exited with %d:\n%s" % (self.proc.returncode,
                                                                   self.log_tail()))
            if sip_options_ok("127.0.0.1", self.port):
                return self
            time.sleep(0.1)
        raise RuntimeError("kamailio did not answer OPTIONS in %ds:\n%s"
                           % (timeout, self.log_tail()))

    def rss_kib(self):
        return sum(vmrss_kib(p) or 0 for p in self.pids())

    def terminate(self):
        """Ask the whole process group to stop, without waiting."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # The whole process group is ours: the main process and the
            # workers it forked.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.log.close()
        self.proc = None


class SocketFloor(OneProcess):
    """bench-socket-floor: answers every request 200 OK with tandemd's socket
    I/O and no SIP work (bench/socket_floor.c). Its CPU per registration is
    what the kernel alone costs a server on UDP sockets here. One process,
    one thread: it stands for one worker."""

    program = "bench-socket-floor"

    def __init__(self, build, workdir, process_cpus=None, label=None):
        self.dir = tempfile.mkdtemp(prefix="floor-", dir=workdir)
        self.port = free_udp_port()
        self.workers = 1
        self.name = label or "socket floor"
        self.log_path = os.path.join(self.dir, "floor.log")
        self.cmd = taskset(process_cpus) + [
            os.path.join(build, "bench", "bench-socket-floor"),
            "--listen", "127.0.0.1:%d" % self.port]

    def ready(self):
        return sip_options_ok("127.0.0.1", self.port)


def write_kamailio_users(db_dir, n, user="user%d", password="pw%d"):
    """The db_text tables of the digest runs: version, subscriber (for
    auth_db) and htable (for the htable variant), with the same users and
    passwords as tandem's users.csv; HA1 precomputed (MD5)."""
    shutil.copy("/usr/share/kamailio/dbtext/kamailio/version",
                os.path.join(db_dir, "version"))
    with open(os.path.join(db_dir, "subscriber"), "w") as sub, \
            open(os.path.join(db_dir, "htable"), "w") as ht:
        sub.write("id(int,auto) username(string) domain(string) password(string) "
                  "ha1(string) ha1b(string) \n")
        ht.write("id(int,auto) key_name(string) key_type(int) value_type(int) "
                 "key_value(string) expires(int) \n")
        for i in range(n):
            u, p = user % i, password % i
            ha1 = hashlib.md5(("%s:%s:%s" % (u, DOMAIN, p)).encode()).hexdigest()
            ha1b = hashlib.md5(("%s@%s:%s:%s" % (u, DOMAIN, DOMAIN, p)).encode()).hexdigest()
            sub.write("%d:%s:%s:%s:%s:%s\n" % (i + 1, u, DOMAIN, p, ha1, ha1b))
            ht.write("%d:%s:0:0:%s:0\n" % (i + 1, u, ha1))


def sip_options_ok(host, port, timeout=0.5):
    msg = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%%d;branch=z9hG4bKbenchping%d;rport\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:bench@%s>;tag=1\r\nTo: <sip:%s:%d>\r\n"
           "Call-ID: benchping%d@%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        n = int(time.monotonic() * 1000)
        text = msg % (host, port, host, n, host, host, port, n, host)
        s.sendto((text % lport).encode(), (host, port))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            return False
        return data.startswith(b"SIP/2.0 200")


# ---- the load generator ----------------------------------------------------

class Loadgen:
    def __init__(self, build, results_dir, cpus=None, threads=1, sockets=16,
                 timeout_s=TIMEOUT_S):
        self.path = os.path.join(build, "tandem-loadgen")
        self.timeout_s = timeout_s
        self.results_dir = results_dir
        self.cpus = cpus
        self.threads = threads
        self.sockets = sockets

    def run(self, server, args, label, timeout=600):
        """Run one loadgen against server; returns its JSON report, with
        the server's CPU seconds over the run added ("server_cpu_s").
        The loadgen stops by itself (its -d / -n bounds); timeout is the
        backstop."""
        path = os.path.join(self.results_dir, "runs", "%04d-%s.json"
                            % (next(_run_numbers), label))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cmd = [self.path, "--json-file", path, "-q", "--domain", DOMAIN,
               "-t", str(self.threads), "-s", str(self.sockets),
               "--t1", T1, "--timeout", ms(self.timeout_s)]
        if self.cpus:
            cmd += ["--cpus", ",".join(str(c) for c in self.cpus)]
        cmd += [str(a) for a in args] + [server.target()]
        pids = server.pids()
        (u0, s0), t0, k0 = cpu_seconds(pids), time.monotonic(), cpu_ticks()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        (u1, s1), t1, k1 = cpu_seconds(pids), time.monotonic(), cpu_ticks()
        if r.returncode != 0:
            raise RuntimeError("tandem-loadgen failed (%d): %s\n%s" % (r.returncode,
                                                                     " ".join(cmd), r.stderr))
        with open(path) as f:
            rep = json.load(f)
        rep["server_user_s"] = u1 - u0
        rep["server_sys_s"] = s1 - s0
        rep["server_cpu_s"] = (u1 - u0) + (s1 - s0)
        rep["server_pids"] = len(pids)
        rep["wall_s"] = t1 - t0
        rep["steal_pct"] = {str(c): v for c, v in sorted(steal_pct(k0, k1).items())}
        rep["command"] = " ".join(cmd)
        with open(path, "w") as f:
            json.dump(rep, f)
        return rep


def summarize(rep):
    """The figures of one loadgen run that the tables use."""
    c = rep["counters"]
    ok = c["ops_ok"]
    lat = rep["latency_us"]
    requests = c["requests"] + c["retransmissions"]
    return {
        "offered": rep["offered_rate"],
        "ok_rate": rep["rate"]["ok"],
        "ok": ok,
        "failure_pct": rep["failure_pct"],
        "retrans_pct": 100.0 * c["retransmissions"] / requests if requests else 0.0,
        "p50_us": lat.get("p50"),
        "p99_us": lat.get("p99"),
        "p999_us": lat.get("p99.9"),
        "server_cpu_us_per_op": 1e6 * rep["server_cpu_s"] / ok if ok else None,
        # The kernel's share (UDP receive and send, wake-ups) of that time.
        "server_sys_pct": (100.0 * rep["server_sys_s"] / rep["server_cpu_s"]
                           if rep["server_cpu_s"] else None),
        # Over the whole run (sending and draining) as a share of one CPU.
        "server_cpu_pct": 100.0 * rep["server_cpu_s"] / rep["wall_s"] if rep["wall_s"] else None,
        "loadgen_cpu_pct": rep["cpu"]["percent"],
        "loadgen_busiest_pct": rep["cpu"]["busiest_thread_percent"],
        # The most stolen CPU's share over the run (hypervisor steal).
        "steal_pct": max(rep.get("steal_pct", {}).values(), default=None),
    }


def ms(seconds):
    """A duration for tandem-loadgen."""
    return "%dms" % round(seconds * 1000)


def passes(s):
    return s["failure_pct"] < MAX_FAILURE_PCT and s["retrans_pct"] < MAX_FAILURE_PCT


def probe(lg, server, aors, extra, label, seconds=2, window=256):
    """Closed loop with a wide window: what the server answers when it is
    always busy. The starting point of the step search."""
    rep = lg.run(server, ["-a", aors, "-w", window, "-d", ms(seconds)] + extra,
                 label + "-probe", timeout=seconds + lg.timeout_s + 60)
    return summarize(rep)


def step(lg, server, rate, aors, extra, label, seconds):
    rep = lg.run(server, ["-a", aors, "-r", "%.0f" % rate, "-d", ms(seconds)] + extra,
                 label + "-%d" % int(rate), timeout=seconds + lg.timeout_s + 60)
    return summarize(rep)


# The offered rates of a search, as fractions of the closed-loop estimate:
# the first search of a configuration walks the whole curve (for the plot),
# the others only its knee, and stop at the first step that fails.
CURVE = [0.25, 0.5, 0.75, 1.0, 1.15, 1.3, 1.6]
KNEE = [0.85, 1.0, 1.15]
BISECT = 2


def search_steps(curve):
    """Load steps of one search at most: the probe, the curve or the knee,
    the bisection, and the step at 80 %."""
    return 1 + len(CURVE if curve else KNEE) + BISECT + 1


def search_seconds(seconds, curve, timeout_s=TIMEOUT_S):
    """The expected wall time of one search (find_max): its steps, and the
    wait for missing answers after the two or three steps that fail."""
    return search_steps(curve) * (seconds + STEP_OVERHEAD_S) + (3 if curve else 2) * timeout_s / 2


def find_max(lg, server, aors, extra, label, seconds=2.0, curve=False, budget=None):
    """Step the offered rate to find the highest one that passes (fewer
    than 0.1 % failures). Returns a dict: max rate, the step at the max,
    the step at 80 % of the max (its p99), every step (offered vs
    answered), and "cut" when the budget stopped it early; None when the
    budget had no room for even the probe. A step starts only when the
    budget has room for it (its duration, overhead and drain)."""
    budget = budget or no_budget()
    room = seconds + STEP_OVERHEAD_S + lg.timeout_s
    if not budget.fits(room):
        return None
    est = probe(lg, server, aors, extra, label, seconds=seconds)["ok_rate"]
    steps = []
    cut = False
    for f in (CURVE if curve else KNEE):
        if not budget.fits(room):
            cut = True
            break
        s = step(lg, server, max(100.0, f * est), aors, extra, label, seconds)
        steps.append(s)
        if not curve and not passes(s):
            break
    lo = max((s for s in steps if passes(s)), key=lambda s: s["offered"], default=None)
    hi = min((s for s in steps if not passes(s) and (lo is None or s["offered"] > lo["offered"])),
             key=lambda s: s["offered"], default=None)
    if lo is None and steps:
        # Nothing passed: walk down from the lowest step (at most 8 halvings).
        rate = min(s["offered"] for s in steps)
        while lo is None and rate > 200:
            if not budget.fits(room):
                cut = True
                break
            rate /= 2
            s = step(lg, server, rate, aors, extra, label, seconds)
            steps.append(s)
            if passes(s):
                lo = s
    for _ in range(BISECT if lo and hi else 0):
        if not budget.fits(room):
            cut = True
            break
        mid = (lo["offered"] + hi["offered"]) / 2
        s = step(lg, server, mid, aors, extra, label, seconds)
        steps.append(s)
        if passes(s):
            lo = s
        else:
            hi = s
    at80 = None
    if lo and budget.fits(room):
        at80 = step(lg, server, 0.8 * lo["offered"], aors, extra, label + "-at80", seconds)
    elif lo:
        cut = True
    return {
        "estimate": est,
        "max_rate": lo["offered"] if lo else 0.0,
        "at_max": lo,
        "at80": at80,
        "cut": cut,
        "steps": sorted(steps, key=lambda s: s["offered"]),
    }


# At a configuration's maximum, the load generator rather than the server
# was the limit when its busiest thread was saturated while the server
# still had CPU to spare (shares of one CPU, medians over the searches).
LOADGEN_SATURATED_PCT = 95
SERVER_SATURATED_PCT = 95


def loadgen_bound(s):
    """True when, at the maximum of summary s (summarize_searches()), the
    load generator was (as far as its CPU shows) saturated and the server
    was not: the maximum may then be the load generator's, a lower bound
    of the server's."""
    lg, srv = s.get("loadgen_cpu_pct"), s.get("server_cpu_pct")
    return (lg is not None and srv is not None and lg >= LOADGEN_SATURATED_PCT
            and srv < SERVER_SATURATED_PCT)


def loadgen_bound_note(s, server="the server"):
    """One sentence saying so, for a summary where loadgen_bound() holds."""
    return ("The load generator may have been the limit: at the maximum its busiest thread "
            "used %.0f %% of a CPU while %s used %.0f %% of one, so the maximum may be the "
            "load generator's (a lower bound of the server's), and the CPU per registration "
            "was measured with the server partly idle."
            % (s["loadgen_cpu_pct"], server, s["server_cpu_pct"]))


def summarize_searches(results):
    """Medians over the searches of one configuration (find_max results):
    the max, CPU and load at the max, latency at 80 % of the max."""
    maxes = [r["max_rate"] for r in results]
    at_max = [r["at_max"] for r in results if r["at_max"]]
    at80 = [r["at80"] for r in results if r["at80"]]
    s = {
        "max": median(maxes), "max_min": min(maxes), "max_max": max(maxes),
        "n": len(results),
        "cut": sum(1 for r in results if r["cut"]),
        "cpu_us": median([s["server_cpu_us_per_op"] for s in at_max]),
        "sys_pct": median([s["server_sys_pct"] for s in at_max]),
        "server_cpu_pct": median([s["server_cpu_pct"] for s in at_max]),
        "loadgen_cpu_pct": median([s["loadgen_busiest_pct"] for s in at_max]),
        "p50_80": median([s["p50_us"] for s in at80]),
        "p99_80": median([s["p99_us"] for s in at80]),
        "p999_80": median([s["p999_us"] for s in at80]),
        # A step at 80 % that itself failed (a noisy neighbour, most often)
        # makes its latency figures meaningless: say how many did.
        "at80_n": len(at80),
        "at80_failed": sum(1 for s in at80 if not passes(s)),
        "steal_80": median([s["steal_pct"] for s in at80 if s.get("steal_pct") is not None]),
        "estimate": median([r["estimate"] for r in results]),
    }
    s["loadgen_bound"] = loadgen_bound(s)
    return s


# ---- output ----------------------------------------------------------------

def fmt(v, spec="%.0f", none="—"):
    return none if v is None else spec % v


def md_table(headers, rows, align=None):
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def machine_md(m, extra=()):
    lines = [
        "- machine: %s, %d CPUs, %d MiB RAM; %s, kernel %s"
        % (m["cpu"], m["cpus"], m["memory_mib"], m["os"], m["kernel"]),
        "- date: %s; tandem %s" % (m["date"], git_revision()),
        "- load average when the run started: %.2f %.2f %.2f (a shared machine: other "
        "work ran meanwhile)" % tuple(m["load"]),
    ]
    lines.extend(extra)
    return "\n".join(lines)


def results_dir(base, name, out=None):
    """The directory of a command's results: out when given (created),
    else base/<date>-<name>, with base/latest-<name> pointing there."""
    if out:
        os.makedirs(out, exist_ok=True)
        return os.path.abspath(out)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    d = os.path.join(base, "%s-%s" % (stamp, name))
    os.makedirs(d, exist_ok=True)
    latest = os.path.join(base, "latest-" + name)
    try:
        if os.path.islink(latest):
            os.unlink(latest)
        os.symlink(os.path.basename(d), latest)
    except OSError:
        pass
    return d


def capitalize(text):
    """text with its first letter upper case (str.capitalize() lowers the rest)."""
    return text[:1].upper() + text[1:]


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def relpath(path):
    """A path for the reports: relative to the source tree when inside it."""
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


def check_build(build, need):
    missing = [n for n in need if not os.access(os.path.join(build, n), os.X_OK)]
    if missing:
        raise SystemExit("bench: %s missing in %s: build first (make, or "
                         "meson setup build && ninja -C build)" % (", ".join(missing), build))
