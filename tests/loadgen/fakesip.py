# SPDX-License-Identifier: MIT
"""A small fake SIP server on loopback UDP for testing tandem-loadgen.

It parses each request just enough (request line, Via, From, To, Call-ID,
CSeq, Authorization), records it, and lets a policy decide what to send
back: a list of (delay in seconds, status code, extra header lines), or
nothing at all (the datagram is dropped). Replies go to the datagram's
source address, as RFC 3581 rport asks. Everything here is deliberately
independent of tandem-loadgen's C code: the digest check uses hashlib.
"""

import hashlib
import heapq
import re
import select
import socket
import threading
import time

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length"}


class Request:
    def __init__(self, data, src):
        self.raw = data
        self.src = src
        text = data.decode("utf-8", "replace")
        head = text.split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        self.method, self.uri, self.version = lines[0].split(" ", 2)
        self.headers = []          # (lower-case name, value) in order
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            self.headers.append((COMPACT.get(name, name), value.strip()))

    def get(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name]

    @property
    def call_id(self):
        return self.get("call-id")

    @property
    def cseq(self):
        num, method = self.get("cseq").split()
        return int(num), method

    @property
    def branch(self):
        m = re.search(r";branch=([^;,\s]+)", self.get("via"))
        return m.group(1) if m else None

    @property
    def from_tag(self):
        m = re.search(r";tag=([^;\s]+)", self.get("from"))
        return m.group(1) if m else None

    @property
    def to_tag(self):
        m = re.search(r">;tag=([^;\s]+)", self.get("to"))
        return m.group(1) if m else None

    @property
    def aor_user(self):
        m = re.search(r"sip:([^@>]+)@", self.get("to"))
        return m.group(1) if m else None

    def aor_index(self):
        """The number at the end of the AOR's user part (user17 -> 17)."""
        m = re.search(r"(\d+)$", self.aor_user or "")
        return int(m.group(1)) if m else None

    def auth(self, proxy=False):
        """The (Proxy-)Authorization parameters as a dict, or None."""
        value = self.get("proxy-authorization" if proxy else "authorization")
        if value is None:
            return None
        scheme, _, rest = value.partition(" ")
        assert scheme.lower() == "digest", value
        params = {}
        for m in re.finditer(r'\s*([A-Za-z0-9-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]+)\s*,?', rest):
            key = m.group(1).lower()
            val = m.group(3) if m.group(3) is not None else m.group(2)
            params[key] = re.sub(r"\\(.)", r"\1", val)
        return params


def response(req, code, extra=(), to_tag="fake1"):
    """A response to req: Vias, From, To (with a tag), Call-ID, CSeq copied."""
    reason = {100: "Trying", 180: "Ringing", 200: "OK", 302: "Moved Temporarily",
              401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              407: "Proxy Authentication Required", 486: "Busy Here",
              500: "Server Internal Error", 603: "Decline"}.get(code, "Whatever")
    lines = ["SIP/2.0 %d %s" % (code, reason)]
    for via in req.all("via"):
        lines.append("Via: " + via)
    lines.append("From: " + req.get("from"))
    to = req.get("to")
    if code > 100 and ";tag=" not in to:
        to += ";tag=" + to_tag
    lines.append("To: " + to)
    lines.append("Call-ID: " + req.call_id)
    lines.append("CSeq: " + req.get("cseq"))
    lines.extend(extra)
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def digest_response(alg, user, realm, password, method, uri, nonce, nc=None,
                    cnonce=None, qop=None):
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[alg]
    ha1 = h(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
    ha2 = h(("%s:%s" % (method, uri)).encode()).hexdigest()
    if qop:
        return h(("%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2)).encode()).hexdigest()
    return h(("%s:%s:%s" % (ha1, nonce, ha2)).encode()).hexdigest()


class FakeServer:
    """A UDP server thread. policy(server, request) returns a list of
    (delay_s, bytes) to send, or [] to drop the request."""

    def __init__(self, policy, host="127.0.0.1"):
        self.policy = policy
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, 0))
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.received = 0
        self.dropped = 0
        self.state = {}
        self.lock = threading.Lock()
        self._stop = False
        self._timers = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def target(self):
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    def _run(self):
        while not self._stop:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, data, addr = heapq.heappop(self._timers)
                self.sock.sendto(data, addr)
            timeout = 0.05
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - now))
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                continue
            for _ in range(256):
                try:
                    data, addr = self.sock.recvfrom(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                req = Request(data, addr)
                with self.lock:
                    self.received += 1
                    self.requests.append(req)
                    out = self.policy(self, req)
                    if not out:
                        self.dropped += 1
                for delay, payload in out or ():
                    if delay <= 0:
                        self.sock.sendto(payload, addr)
                    else:
                        heapq.heappush(self._timers, (time.monotonic() + delay, id(payload),
                                                      payload, addr))

    def close(self):
        self._stop = True
        self._thread.join(5)
        self.sock.close()


# ---- policies --------------------------------------------------------------

def answer_all(server, req):
    """200 to REGISTER, 302 to INVITE, nothing to ACK."""
    if req.method == "ACK":
        return []
    if req.method == "INVITE":
        return [(0, response(req, 302, ["Contact: <sip:%s@192.0.2.1:5060>" % req.aor_user]))]
    return [(0, response(req, 200, ["Contact: " + (req.get("contact") or "*")]))]


def drop_every_nth_datagram(n):
    def policy(server, req):
        if server.received % n == 0:
            return []
        return answer_all(server, req)
    return policy


def drop_aors(modulo, residue):
    """Never answer the AORs whose number is residue modulo `modulo`."""
    def policy(server, req):
        if req.aor_index() % modulo == residue:
            return []
        return answer_all(server, req)
    return policy


def delay_all(seconds):
    def policy(server, req):
        return [(seconds, data) for _, data in answer_all(server, req)]
    return policy


def silent(server, req):
    return []


def code_by_aor(codes):
    def policy(server, req):
        return [(0, response(req, codes[req.aor_index() % len(codes)]))]
    return policy


def digest(password_of, algorithms=("MD5",), realm="fake.example", qop=True,
           stale_first=False, opaque="0pa\\\"que", method="REGISTER", proxy=False):
    """Challenge every request of `method` without (valid) credentials.
    Credentials are checked with hashlib; the server keeps the nonces it
    issued. stale_first: the first valid credentials of each Call-ID are
    answered with stale=true and a new nonce."""
    hdr = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    code = 407 if proxy else 401

    def challenge(server, req, stale=False):
        server.state["nonce_seq"] = server.state.get("nonce_seq", 0) + 1
        nonce = "n%08d%s" % (server.state["nonce_seq"], "x" * 20)
        server.state.setdefault("nonces", set()).add(nonce)
        extra = []
        for alg in algorithms:
            quoted_opaque = opaque.replace("\\", "\\\\").replace('"', '\\"')
            extra.append('%s: Digest realm="%s", nonce="%s", opaque="%s", algorithm=%s%s%s'
                         % (hdr, realm, nonce, quoted_opaque, alg,
                            ', qop="auth"' if qop else "", ", stale=true" if stale else ""))
        server.state["challenges"] = server.state.get("challenges", 0) + 1
        return [(0, response(req, code, extra))]

    def policy(server, req):
        if req.method == "ACK":
            return []
        if req.method != method:
            return answer_all(server, req)
        cred = req.auth(proxy)
        if cred is None:
            return challenge(server, req)
        idx = req.aor_index()
        ok = (cred.get("nonce") in server.state.get("nonces", ()) and
              cred.get("realm") == realm and cred.get("uri") == req.uri and
              cred.get("opaque") == opaque and
              cred.get("algorithm", "MD5") in algorithms)
        if ok:
            want = digest_response(cred.get("algorithm", "MD5"), cred["username"], realm,
                                   password_of(idx), req.method, req.uri, cred["nonce"],
                                   cred.get("nc"), cred.get("cnonce"), cred.get("qop"))
            ok = cred["response"] == want
        if not ok:
            server.state["bad"] = server.state.get("bad", 0) + 1
            return challenge(server, req)
        if stale_first and req.call_id not in server.state.setdefault("staled", set()):
            server.state["staled"].add(req.call_id)
            return challenge(server, req, stale=True)
        server.state["verified"] = server.state.get("verified", 0) + 1
        server.state.setdefault("algs", []).append(cred.get("algorithm", "MD5"))
        return answer_all(server, req)
    return policy
