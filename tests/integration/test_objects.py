#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Objects, licenses and settings (issue 4) with real tandemd processes:
the object commands of tandemctl and their persistence, imports that are
all or nothing, port licenses, and replication between a master and a
standby over their TLS link: 100 000 users on the master authenticate on
the standby after a failover, changes reach a connected standby, a
restarted standby gets only what it missed, a master killed in the middle
of a snapshot leaves the standby its previous complete set, writes on a
standby are refused, too few standby licenses block the takeover, and
differing general settings are reported."""

import os
import signal
import subprocess
import time
import unittest

from harness import TANDEMCTL, Node, NodeTest, free_tcp_port, status_of, udp_request
from test_digest import authorization, challenges
from test_pair import FAILOVER, HEARTBEAT, PASSWORD, Pair, register, wait_for

# The replication test's population (the figure); a sanitizer run
# may lower it through the environment.
BIG = int(os.environ.get("TANDEM_TEST_BIG_USERS", "100000"))
STORE_JOURNAL_MAX = 100000  # store/store.h: a gap longer than this needs a snapshot


def tandemctl(node, *words, check=False):
    """tandemctl with words passed as they are (no splitting)."""
    r = subprocess.run([TANDEMCTL, "-s", node.socket, "--timeout", "120"] + list(words),
                       capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError("tandemctl %s: exit %d: %s" % (" ".join(words), r.returncode,
                                                            r.stderr))
    return r


def digest_register(node, user, password, callid=None, expires=300):
    """A whole digest round (401, then the answer); returns the final reply."""
    callid = callid or "obj-%s-%f" % (user, time.monotonic())
    req = ("REGISTER sip:example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-{cseq}-%d;rport\n"
           "Max-Forwards: 70\n"
           "To: <sip:{user}@example.com>\nFrom: <sip:{user}@example.com>;tag=ob\n"
           "Call-ID: {callid}\nCSeq: {cseq} REGISTER\n"
           "Contact: <sip:{user}@127.0.0.1:5098>;expires={expires}\n"
           "{auth}Content-Length: 0\n\n") % int(time.monotonic() * 1e6)
    first = udp_request(node, req.format(user=user, callid=callid, cseq=1, auth="",
                                         expires=expires))
    if status_of(first) != 401:
        return first
    alg, nonce, _ = challenges(first)[0]
    return udp_request(node, req.format(user=user, callid=callid, cseq=2, expires=expires,
                                        auth=authorization(alg, nonce, password, user=user)))


def write_users(path, rows, header="name,password,number"):
    with open(path, "w") as f:
        f.write(header + "\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")


class Objects(NodeTest):
    node_args = {"sip": {"auth": "digest"}}

    def objects(self, node=None):
        return (node or self.node).json("show objects")

    def test_user_commands_write_the_store_and_survive_a_restart(self):
        n = self.node
        r = tandemctl(n, "user", "add", "alice", "--password", "s3cret", "--number", "100",
                      "--display", "Alice Liddell", check=True)
        self.assertIn("added: alice", r.stdout)
        tandemctl(n, "user", "add", "bob", "--number", "101", check=True)
        alice = n.json("user show 100")
        self.assertEqual(alice["name"], "alice")
        self.assertEqual(alice["display"], "Alice Liddell")
        self.assertTrue(alice["password"])
        self.assertEqual(alice["realm"], "example.com")
        self.assertFalse(n.json("user show bob")["can_authenticate"], "no password")

        # Refusals exit 1 with the reason and change nothing.
        rev = self.objects()["revision"]
        for words, needle in ((("user", "add", "alice"), "exists"),
                              (("user", "add", "carol", "--number", "101"), "already"),
                              (("user", "add", "_STANDBY_"), "not starting with '_'"),
                              (("user", "del", "nobody"), "no user"),
                              (("user", "set", "nobody", "--number", "5"), "no user"),
                              (("user", "add", "dave", "--max-contacts", "x"), "max-contacts"),
                              (("user", "add", "erin", "--colour", "red"), "unknown option")):
            r = tandemctl(n, *words)
            self.assertEqual(r.returncode, 1, words)
            self.assertIn(needle, r.stderr, words)
        self.assertEqual(self.objects()["revision"], rev)

        tandemctl(n, "user", "set", "alice", "--number", "200", "--disabled", check=True)
        tandemctl(n, "user", "del", "bob", check=True)
        users = n.json("user list")
        self.assertEqual([u["name"] for u in users["users"]], ["alice"])
        self.assertEqual(users["total"], 1)
        before = self.objects()

        n.stop()
        n.start()
        after = self.objects()
        self.assertEqual(after["revision"], before["revision"])
        self.assertEqual(after["store_id"], before["store_id"])
        alice = n.json("user show alice")
        self.assertEqual((alice["number"], alice["enabled"]), ("200", False))
        self.assertEqual(n.json("show stats")["users"], 1)

    def test_a_user_added_with_tandemctl_authenticates_and_a_deleted_one_not(self):
        n = self.node
        tandemctl(n, "user", "add", "carol", "--password", "pw-carol", check=True)
        self.assertEqual(status_of(digest_register(n, "carol", "pw-carol")), 200)
        self.assertEqual(status_of(digest_register(n, "carol", "wrong")), 401)
        tandemctl(n, "user", "set", "carol", "--password", "pw-new", check=True)
        self.assertEqual(status_of(digest_register(n, "carol", "pw-carol")), 401)
        self.assertEqual(status_of(digest_register(n, "carol", "pw-new")), 200)
        tandemctl(n, "user", "del", "carol", check=True)
        # Unknown users get the answer of a wrong password (names stay secret).
        unknown = n.counter("auth_unknown_user")
        self.assertEqual(status_of(digest_register(n, "carol", "pw-new")), 401)
        self.assertEqual(n.counter("auth_unknown_user"), unknown + 1)

    def test_an_import_is_all_or_nothing_and_names_the_first_bad_line(self):
        n = self.node
        good = os.path.join(n.dir, "good.csv")
        write_users(good, [("u%d" % i, "pw%d" % i, 300 + i) for i in range(50)])
        r = tandemctl(n, "user", "import", good, check=True)
        self.assertIn("state: done", r.stdout)
        self.assertIn("changed: 50", r.stdout)
        self.assertIn("rows", r.stderr, "a progress line")
        self.assertEqual(status_of(digest_register(n, "u7", "pw7")), 200)
        before = self.objects()

        bad = os.path.join(n.dir, "bad.csv")
        write_users(bad, [("new1", "x", 900), ("u3", "changed", 303), ("bad name", "x", 901),
                          ("new2", "x", 902)])
        r = tandemctl(n, "user", "import", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.csv:4:", r.stderr, "the line of the first bad row")
        self.assertIn("nothing changed", r.stderr)
        after = self.objects()
        self.assertEqual(after["revision"], before["revision"])
        self.assertEqual(after["counts"]["users"], 50)
        self.assertEqual(status_of(digest_register(n, "u3", "pw3")), 200, "u3 unchanged")

        # The same good file again changes nothing.
        r = tandemctl(n, "user", "import", good, check=True)
        self.assertIn("unchanged: 50", r.stdout)
        self.assertEqual(self.objects()["revision"], before["revision"])

        missing = tandemctl(n, "user", "import", os.path.join(n.dir, "nope.csv"))
        self.assertEqual(missing.returncode, 2, "tandemctl cannot even read the path")

    def test_port_licenses_bound_new_aors_but_not_refreshes(self):
        n = self.node
        for u in ("a1", "a2", "a3"):
            tandemctl(n, "user", "add", u, "--password", "pw", check=True)
        tandemctl(n, "licenses", "set", "--ports", "2", "--standby", "2", check=True)
        lic = n.json("show licenses")
        self.assertEqual((lic["ports"], lic["standby"]), (2, 2))
        self.assertEqual(status_of(digest_register(n, "a1", "pw", callid="l1")), 200)
        self.assertEqual(status_of(digest_register(n, "a2", "pw", callid="l2")), 200)
        r = digest_register(n, "a3", "pw", callid="l3")
        self.assertEqual(status_of(r), 403)
        self.assertIn("Port Licenses Exhausted", r.splitlines()[0])
        self.assertEqual(n.counter("reg_license_refused"), 1)
        self.assertEqual(n.json("show licenses")["ports_in_use"], 2)
        # A refresh of a registered AOR needs no new port.
        self.assertEqual(status_of(digest_register(n, "a1", "pw", callid="l1b")), 200)
        # Freeing a port lets the next one in.
        self.assertEqual(status_of(digest_register(n, "a2", "pw", callid="l2x", expires=0)), 200)
        self.assertEqual(status_of(digest_register(n, "a3", "pw", callid="l3b")), 200)
        # Unlimited again.
        tandemctl(n, "licenses", "set", "--ports", "unlimited", check=True)
        self.assertEqual(n.json("show licenses")["ports"], "unlimited")


class UsersFileAtStart(unittest.TestCase):
    def test_the_users_file_is_imported_at_start_and_only_changes_make_revisions(self):
        node = Node(users="name,password,number\nalice,pw1,100\nbob,pw2,101\n",
                    sip={"auth": "digest"})
        try:
            rev = node.json("show objects")["revision"]
            self.assertEqual(node.json("show objects")["counts"]["users"], 2)
            node.stop()
            node.start()
            self.assertEqual(node.json("show objects")["revision"], rev, "nothing changed")
            with open(node.sip["users"], "w") as f:
                f.write("name,password,number\nalice,pw1,100\nbob,other,101\n")
            node.stop()
            node.start()
            self.assertEqual(node.json("show objects")["revision"], rev + 1, "one change")
            self.assertEqual(status_of(digest_register(node, "bob", "other")), 200)
        finally:
            node.stop()
            node.close()


class Replication(Pair):
    master_extra = {"sip.auth": "digest"}
    standby_extra = {"sip.auth": "digest"}

    def replication(self, node):
        peers = node.json("show peers")["peers"]
        return peers[0]["replication"] if peers else None

    def users_on(self, node):
        return node.json("show objects")["counts"]["users"]

    def wait_in_sync(self, timeout=60):
        want = self.master.json("show objects")["revision"]
        wait_for(lambda: self.standby.json("show objects")["revision"] == want, timeout,
                 "the standby to reach revision %d" % want)
        wait_for(lambda: self.replication(self.master)["lag_revisions"] == 0, timeout,
                 "the master to see the standby's acknowledgement")

    def kill_master(self):
        self.master.proc.send_signal(signal.SIGKILL)
        self.master.proc.wait()
        self.master.proc = None
        self.master.log.close()

    def test_many_users_replicate_and_authenticate_on_the_standby_after_failover(self):
        self.pair()
        path = os.path.join(self.master.dir, "big.csv")
        write_users(path, [("user%d" % i, "pw%d" % i, 1000000 + i) for i in range(BIG)])
        tandemctl(self.master, "user", "import", path, check=True)
        self.wait_in_sync(timeout=180)
        self.assertEqual(self.users_on(self.standby), BIG)
        self.assertEqual(self.standby.json("show stats")["users"], BIG, "in the users table")

        self.kill_master()
        wait_for(lambda: self.standby.json("show role")["role"] == "active", FAILOVER + 5,
                 "the standby to take over")
        last = BIG - 1
        self.assertEqual(status_of(digest_register(self.standby, "user%d" % last,
                                                   "pw%d" % last)), 200)
        self.assertEqual(status_of(digest_register(self.standby, "user3", "pw3")), 200)
        self.assertEqual(status_of(digest_register(self.standby, "user3", "nope")), 401)

    def test_an_import_larger_than_the_journal_reaches_a_connected_standby(self):
        # More changes at once than the journal keeps: the master switches
        # the connected standby to a snapshot by itself.
        self.pair()
        self.wait_in_sync()
        path = os.path.join(self.master.dir, "huge.csv")
        write_users(path, [("j%d" % i, "pw", 5000000 + i) for i in range(STORE_JOURNAL_MAX + 10)])
        tandemctl(self.master, "user", "import", path, check=True)
        self.wait_in_sync(timeout=180)
        self.assertEqual(self.users_on(self.standby), STORE_JOURNAL_MAX + 10)
        rep = self.replication(self.master)
        self.assertEqual(rep["counters"]["snapshots_done"], 2, "login, then the import")
        self.assertEqual(rep["state"], "in sync")

    def test_a_change_on_the_master_reaches_the_connected_standby(self):
        self.pair()
        self.wait_in_sync()
        tandemctl(self.master, "user", "add", "zoe", "--password", "zpw", "--number", "555",
                  check=True)
        wait_for(lambda: tandemctl(self.standby, "user", "show", "555").returncode == 0, 10,
                 "zoe on the standby")
        tandemctl(self.master, "licenses", "set", "--ports", "100", "--standby", "100",
                  check=True)
        wait_for(lambda: self.standby.json("show licenses")["ports"] == 100, 10,
                 "the licenses on the standby")
        tandemctl(self.master, "user", "del", "zoe", check=True)
        wait_for(lambda: tandemctl(self.standby, "user", "show", "zoe").returncode == 1, 10,
                 "zoe gone from the standby")
        rep = self.replication(self.master)
        self.assertEqual(rep["state"], "in sync")
        self.assertEqual(rep["lag_revisions"], 0)
        self.assertGreaterEqual(rep["counters"]["changes"], 3)

    def test_a_restarted_standby_gets_only_the_missed_changes(self):
        self.pair()
        path = os.path.join(self.master.dir, "some.csv")
        write_users(path, [("s%d" % i, "pw", 2000 + i) for i in range(200)])
        tandemctl(self.master, "user", "import", path, check=True)
        self.wait_in_sync()
        self.standby.stop()
        for i in range(5):
            tandemctl(self.master, "user", "add", "missed%d" % i, "--password", "m", check=True)
        self.standby.start()
        self.wait_in_sync()
        rep = self.replication(self.standby)
        self.assertEqual(rep["counters"]["delta_syncs"], 1)
        self.assertEqual(rep["counters"]["snapshots"], 0, "no full snapshot")
        self.assertEqual(rep["counters"]["changes"], 5, "exactly the missed changes")
        self.assertEqual(self.users_on(self.standby), 205)

    def test_a_master_killed_mid_snapshot_leaves_the_standby_its_previous_set(self):
        self.pair()
        tandemctl(self.master, "user", "add", "old", "--password", "oldpw", check=True)
        self.wait_in_sync()
        before = self.standby.json("show objects")
        self.standby.stop()
        # More new users than the journal holds: the standby needs a snapshot.
        path = os.path.join(self.master.dir, "many.csv")
        n = BIG + STORE_JOURNAL_MAX
        write_users(path, [("m%d" % i, "pw", 3000000 + i) for i in range(n)])
        tandemctl(self.master, "user", "import", path, check=True)
        self.standby.start()
        wait_for(lambda: (self.replication(self.standby) or {}).get("state") == "snapshot" and
                 self.replication(self.standby).get("snapshot", {}).get("done", 0) > 0,
                 30, "the snapshot to be under way")
        self.kill_master()
        wait_for(lambda: self.standby.json("show role")["role"] == "active", FAILOVER + 5,
                 "the standby to take over")
        after = self.standby.json("show objects")
        self.assertEqual(after["revision"], before["revision"])
        self.assertEqual(after["counts"]["users"], before["counts"]["users"])
        self.assertEqual(self.standby.json("show stats")["users"], before["counts"]["users"])
        self.assertEqual(self.replication(self.standby)["counters"]["snapshots_aborted"], 1)
        self.assertEqual(status_of(digest_register(self.standby, "old", "oldpw")), 200)

        # A standby restarted while the master is down has the same set
        # (nothing half-written) and serves with it once it takes over.
        self.standby.stop()
        self.standby.start()
        self.assertEqual(self.standby.json("show objects")["revision"], before["revision"])
        self.assertEqual(self.standby.json("show stats")["users"], before["counts"]["users"])
        wait_for(lambda: self.standby.json("show role")["role"] == "active", FAILOVER + 5,
                 "the restarted standby to take over")
        self.assertEqual(status_of(digest_register(self.standby, "old", "oldpw")), 200)

    def test_writes_on_the_standby_are_refused(self):
        self.pair()
        for words in (("user", "add", "x", "--password", "y"), ("user", "del", "x"),
                      ("user", "set", "x", "--number", "1"), ("licenses", "set", "--ports", "5")):
            r = tandemctl(self.standby, *words)
            self.assertEqual(r.returncode, 1, words)
            self.assertIn("replicated from the master", r.stderr)
        path = os.path.join(self.standby.dir, "u.csv")
        write_users(path, [("x", "y", 1)])
        r = tandemctl(self.standby, "user", "import", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("replicated from the master", r.stderr)

    def test_too_few_standby_licenses_block_the_takeover(self):
        self.pair()
        tandemctl(self.master, "licenses", "set", "--ports", "10", "--standby", "5", check=True)
        wait_for(lambda: self.standby.json("show role")["takeover_blocked"] != "", 10,
                 "the standby to see its licenses")
        self.assertIn("5 standby licenses", self.standby.json("show role")["takeover_blocked"])
        self.assertEqual(self.standby.json("show licenses")["standby_takeover"], "blocked")
        self.kill_master()
        time.sleep(FAILOVER + 1.0)
        self.assertEqual(self.standby.json("show role")["role"], "standby")
        self.assertEqual(self.standby.json("show role")["epoch"], 0)
        self.assertIn("not allowed", self.standby.read_log())
        self.assertEqual(status_of(register(self.standby)), 302, "still diverting")

    def test_enough_standby_licenses_allow_the_takeover(self):
        self.pair()
        tandemctl(self.master, "licenses", "set", "--ports", "10", "--standby", "10", check=True)
        wait_for(lambda: self.standby.json("show licenses")["standby"] == 10, 10,
                 "the licenses on the standby")
        self.assertEqual(self.standby.json("show role")["takeover_blocked"], "")
        self.kill_master()
        wait_for(lambda: self.standby.json("show role")["role"] == "active", FAILOVER + 5,
                 "the standby to take over")


class DifferingSettings(Pair):
    standby_extra = {"sip.max_expires": "3600"}

    def test_differing_general_settings_are_listed_and_logged_on_both_sides(self):
        self.pair()
        wait_for(lambda: self.standby.json("show peers")["peers"][0]["replication"]
                 ["settings_differ"] != "", 10, "the comparison")
        for node in (self.master, self.standby):
            rep = node.json("show peers")["peers"][0]["replication"]
            self.assertEqual(rep["settings_differ"], "max_expires", node.name)
            self.assertIn("general setting 'max_expires' differs", node.read_log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
