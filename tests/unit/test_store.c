/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for store/store.c: revisions, persistence across reopen, the
 * numbers index and its clashes, one writer at a time, the journal (and
 * its trimming), snapshots (atomic replace, abort keeps the old set), a
 * consistent snapshot read, the master's changes applied in order, and the
 * object codec on good, truncated and hostile bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "store.h"

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tandem-store-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(store, .init = mkdir_tmp, .fini = rm_tmp);

static struct store *open_store(void)
{
	char err[STORE_ERR_MAX] = "";
	struct store *s = NULL;
	int rc = store_open(dir, (size_t)1 << 30, &s, err, sizeof(err));

	cr_assert_eq(rc, 0, "store_open: %s", err);
	return s;
}

static struct store_obj user(const char *name, const char *number)
{
	struct store_obj o = { .kind = STORE_USER };

	snprintf(o.u.user.name, sizeof(o.u.user.name), "%s", name);
	snprintf(o.u.user.number, sizeof(o.u.user.number), "%s", number);
	snprintf(o.u.user.display, sizeof(o.u.user.display), "User %s", name);
	snprintf(o.u.user.realm, sizeof(o.u.user.realm), "example.com");
	o.u.user.has_password = true;
	o.u.user.enabled = true;
	memset(o.u.user.ha1_md5, name[0], sizeof(o.u.user.ha1_md5));
	memset(o.u.user.ha1_sha256, name[0] + 1, sizeof(o.u.user.ha1_sha256));
	return o;
}

static struct store_obj del_user(const char *name)
{
	struct store_obj o = { .kind = STORE_USER, .deleted = true };

	snprintf(o.u.user.name, sizeof(o.u.user.name), "%s", name);
	return o;
}

static struct store_obj license(enum store_license k, uint32_t n)
{
	struct store_obj o = { .kind = STORE_LICENSE };

	o.u.license.kind = k;
	o.u.license.count = n;
	return o;
}

/* Commit one change in its own local transaction; returns its revision. */
static int64_t put1(struct store *s, struct store_obj o)
{
	struct store_txn *t;
	int64_t rev;

	cr_assert_eq(store_begin(s, &t), 0);
	rev = store_stage(t, &o);
	if (rev < 0) {
		store_abort(t);
		return rev;
	}
	cr_assert_eq(store_commit(t), rev);
	return rev;
}

static uint64_t users_of(struct store *s)
{
	struct store_counts c;

	cr_assert_eq(store_counts(s, &c), 0);
	return c.users;
}

Test(store, every_change_gets_the_next_revision_starting_at_1)
{
	struct store *s = open_store();
	struct store_counts c;

	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.revision, 0);
	cr_assert_eq(put1(s, user("alice", "100")), 1);
	cr_assert_eq(put1(s, user("bob", "101")), 2);
	cr_assert_eq(put1(s, license(STORE_LIC_PORTS, 50)), 3);
	cr_assert_eq(put1(s, del_user("bob")), 4);

	/* Several changes in one transaction: consecutive revisions. */
	struct store_txn *t;
	struct store_obj a = user("carol", ""), b = user("dave", "");
	cr_assert_eq(store_begin(s, &t), 0);
	cr_assert_eq(store_stage(t, &a), 5);
	cr_assert_eq(store_stage(t, &b), 6);
	cr_assert_eq(store_txn_staged(t), 2);
	cr_assert_eq(store_commit(t), 6);

	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.revision, 6);
	cr_assert_eq(c.users, 3);
	cr_assert_eq(c.licenses, 1);
	cr_assert_eq(c.journal_first, 1);
	cr_assert_eq(c.journal_len, 6);
	store_close(s);
}

Test(store, objects_revision_and_id_survive_a_reopen)
{
	struct store *s = open_store();
	struct store_counts before, after;
	struct store_user u;

	cr_assert_eq(put1(s, user("alice", "100")), 1);
	cr_assert_eq(put1(s, license(STORE_LIC_STANDBY, 7)), 2);
	cr_assert_eq(store_counts(s, &before), 0);
	store_close(s);

	s = open_store();
	cr_assert_eq(store_counts(s, &after), 0);
	cr_assert_eq(after.revision, 2);
	cr_assert_eq(memcmp(before.id, after.id, STORE_ID_LEN), 0, "the id is kept");
	cr_assert_eq(store_find_user(s, "alice", &u), 0);
	cr_assert_str_eq(u.display, "User alice");
	cr_assert_eq(u.ha1_md5[0], 'a');

	struct store_obj l = { .kind = STORE_LICENSE, .u.license.kind = STORE_LIC_STANDBY };
	cr_assert_eq(store_get(s, &l), 0);
	cr_assert_eq(l.u.license.count, 7);
	/* The next revision continues from the stored one. */
	cr_assert_eq(put1(s, user("bob", "")), 3);
	store_close(s);
}

Test(store, two_stores_get_different_ids)
{
	struct store *a = open_store();
	struct store_counts ca, cb;
	char other[80];
	struct store *b = NULL;

	snprintf(other, sizeof(other), "%s/other", dir);
	cr_assert_eq(store_open(other, (size_t)1 << 30, &b, NULL, 0), 0);
	cr_assert_eq(store_counts(a, &ca), 0);
	cr_assert_eq(store_counts(b, &cb), 0);
	cr_assert_neq(memcmp(ca.id, cb.id, STORE_ID_LEN), 0);
	store_close(a);
	store_close(b);
}

Test(store, an_unwritable_directory_is_an_error_naming_it)
{
	char err[STORE_ERR_MAX] = "";
	struct store *s = NULL;

	cr_assert_lt(store_open("/proc/tandem-no/objects", 0, &s, err, sizeof(err)), 0);
	cr_assert_null(s);
	cr_assert_not_null(strstr(err, "/proc/tandem-no/objects"), "%s", err);
}

Test(store, a_user_is_found_by_name_or_by_number)
{
	struct store *s = open_store();
	struct store_user u;

	put1(s, user("alice", "100"));
	cr_assert_eq(store_find_user(s, "100", &u), 0);
	cr_assert_str_eq(u.name, "alice");
	cr_assert_eq(store_find_user(s, "101", &u), TDM_ENOTFOUND);

	/* A new number: found by the new one only. */
	put1(s, user("alice", "200"));
	cr_assert_eq(store_find_user(s, "200", &u), 0);
	cr_assert_eq(store_find_user(s, "100", &u), TDM_ENOTFOUND);

	/* Deleted: found by neither. */
	put1(s, del_user("alice"));
	cr_assert_eq(store_find_user(s, "alice", &u), TDM_ENOTFOUND);
	cr_assert_eq(store_find_user(s, "200", &u), TDM_ENOTFOUND);
	store_close(s);
}

Test(store, names_and_numbers_share_one_key_space)
{
	struct store *s = open_store();

	put1(s, user("alice", "100"));
	cr_assert_eq(put1(s, user("bob", "100")), TDM_EEXISTS, "another user's number");
	cr_assert_eq(put1(s, user("bob", "alice")), TDM_EMALFORMED, "not a number");
	cr_assert_eq(put1(s, user("100", "")), TDM_EEXISTS, "a name that is a number");
	/* The same user keeping its number is no clash. */
	cr_assert_gt(put1(s, user("alice", "100")), 0);
	cr_assert_eq(users_of(s), 1);
	store_close(s);
}

Test(store, licenses_and_settings_can_be_replaced_and_deleted)
{
	struct store *s = open_store();
	struct store_obj l = license(STORE_LIC_PORTS, 5), st = { .kind = STORE_SETTING };
	struct store_counts c;

	cr_assert_gt(put1(s, l), 0);
	l.u.license.count = 9;
	cr_assert_gt(put1(s, l), 0);
	cr_assert_eq(store_get(s, &l), 0);
	cr_assert_eq(l.u.license.count, 9);
	l.deleted = true;
	cr_assert_gt(put1(s, l), 0);
	cr_assert_eq(store_get(s, &l), TDM_ENOTFOUND);
	cr_assert_eq(put1(s, l), TDM_ENOTFOUND);

	snprintf(st.u.setting.key, sizeof(st.u.setting.key), "domain");
	snprintf(st.u.setting.value, sizeof(st.u.setting.value), "example.com");
	cr_assert_gt(put1(s, st), 0);
	st.deleted = true;
	cr_assert_gt(put1(s, st), 0);
	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.licenses + c.settings, 0);
	store_close(s);
}

Test(store, deleting_what_does_not_exist_is_not_found)
{
	struct store *s = open_store();
	struct store_counts c;

	cr_assert_eq(put1(s, del_user("nobody")), TDM_ENOTFOUND);
	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.revision, 0, "a refused change takes no revision");
	store_close(s);
}

Test(store, a_refused_change_keeps_the_others_of_its_transaction)
{
	struct store *s = open_store();
	struct store_txn *t;
	struct store_obj a = user("alice", "100"), b = user("bob", "100"), c = user("carol", "");

	cr_assert_eq(store_begin(s, &t), 0);
	cr_assert_eq(store_stage(t, &a), 1);
	cr_assert_eq(store_stage(t, &b), TDM_EEXISTS);
	cr_assert_eq(store_stage(t, &c), 2);
	cr_assert_eq(store_commit(t), 2);
	cr_assert_eq(users_of(s), 2);
	store_close(s);
}

Test(store, an_aborted_transaction_leaves_nothing)
{
	struct store *s = open_store();
	struct store_txn *t;
	struct store_obj a = user("alice", "100");
	struct store_counts c;

	cr_assert_eq(store_begin(s, &t), 0);
	cr_assert_eq(store_stage(t, &a), 1);
	store_abort(t);
	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.users, 0);
	cr_assert_eq(c.revision, 0);
	cr_assert_eq(put1(s, a), 1, "the revision was not used up");
	store_close(s);
}

Test(store, a_second_writer_is_refused_not_blocked)
{
	struct store *s = open_store();
	struct store_txn *t, *t2;

	cr_assert_eq(store_begin(s, &t), 0);
	cr_assert_eq(store_begin(s, &t2), -EBUSY);
	cr_assert_eq(store_begin_apply(s, &t2), -EBUSY);
	cr_assert_eq(store_snapshot_begin(s, &t2), -EBUSY);
	store_abort(t);
	cr_assert_eq(store_begin(s, &t2), 0);
	store_abort(t2);
	store_close(s);
}

Test(store, readers_see_the_last_commit_while_a_write_is_open)
{
	struct store *s = open_store();
	struct store_txn *t;
	struct store_obj b = user("bob", "");
	struct store_user u;

	put1(s, user("alice", ""));
	cr_assert_eq(store_begin(s, &t), 0);
	cr_assert_eq(store_stage(t, &b), 2);
	cr_assert_eq(store_find_user(s, "bob", &u), TDM_ENOTFOUND);
	cr_assert_eq(store_find_user(s, "alice", &u), 0);
	cr_assert_eq(store_commit(t), 2);
	cr_assert_eq(store_find_user(s, "bob", &u), 0);
	store_close(s);
}

Test(store, invalid_objects_are_refused)
{
	struct store *s = open_store();
	struct store_obj o;

	o = user("_STANDBY_", "");
	cr_assert_eq(put1(s, o), TDM_EMALFORMED, "names starting with _ are the pair's");
	o = user("a b", "");
	cr_assert_eq(put1(s, o), TDM_EMALFORMED);
	o = user("", "");
	cr_assert_eq(put1(s, o), TDM_EMALFORMED);
	o = user("alice", "");
	o.u.user.realm[0] = '\0';
	cr_assert_eq(put1(s, o), TDM_EMALFORMED, "hashes without a realm");
	o = user("alice", "");
	o.u.user.display[3] = '\n';
	cr_assert_eq(put1(s, o), TDM_EMALFORMED);
	o = license(9, 1);
	cr_assert_eq(put1(s, o), TDM_EMALFORMED);
	cr_assert_eq(users_of(s), 0);
	store_close(s);
}

struct seen {
	uint64_t revs[64];
	struct store_obj objs[64];
	unsigned n;
};

static int collect(uint64_t rev, const struct store_obj *o, void *arg)
{
	struct seen *sn = arg;

	cr_assert_lt(sn->n, 64);
	sn->revs[sn->n] = rev;
	sn->objs[sn->n++] = *o;
	return 0;
}

Test(store, the_journal_gives_the_changes_after_a_revision_in_order)
{
	struct store *s = open_store();
	struct seen sn = { 0 };

	put1(s, user("alice", "100"));
	put1(s, user("bob", ""));
	put1(s, del_user("alice"));
	put1(s, license(STORE_LIC_PORTS, 10));

	cr_assert_eq(store_changes_since(s, 1, 0, collect, &sn), 3);
	cr_assert_eq(sn.revs[0], 2);
	cr_assert_str_eq(sn.objs[0].u.user.name, "bob");
	cr_assert_eq(sn.revs[1], 3);
	cr_assert(sn.objs[1].deleted);
	cr_assert_str_eq(sn.objs[1].u.user.name, "alice");
	cr_assert_eq(sn.revs[2], 4);
	cr_assert_eq(sn.objs[2].kind, STORE_LICENSE);
	cr_assert_eq(sn.objs[2].u.license.count, 10);

	/* At most max, and nothing after the last. */
	memset(&sn, 0, sizeof(sn));
	cr_assert_eq(store_changes_since(s, 0, 2, collect, &sn), 2);
	cr_assert_eq(sn.revs[1], 2);
	cr_assert_eq(store_changes_since(s, 4, 0, collect, &sn), 0);
	cr_assert_eq(store_changes_since(s, 99, 0, collect, &sn), 0);
	store_close(s);
}

static int take_two(uint64_t rev, const struct store_obj *o, void *arg)
{
	unsigned *n = arg;

	return (*n)++ < 2 ? 0 : 1;
}

static int fail_at_once(uint64_t rev, const struct store_obj *o, void *arg)
{
	return -E2BIG;
}

Test(store, a_callback_may_stop_the_journal_walk_or_fail_it)
{
	struct store *s = open_store();
	unsigned n = 0;

	for (int i = 0; i < 5; i++) {
		char name[8];
		snprintf(name, sizeof(name), "u%d", i);
		put1(s, user(name, ""));
	}
	cr_assert_eq(store_changes_since(s, 0, 0, take_two, &n), 2, "stopping is no error");
	cr_assert_eq(store_changes_since(s, 0, 0, fail_at_once, NULL), -E2BIG);
	store_close(s);
}

Test(store, the_journal_keeps_the_last_changes_and_says_when_it_is_too_short)
{
	struct store *s = open_store();
	struct seen sn = { 0 };
	struct store_counts c;
	char name[16];

	store_set_journal_max(s, 5);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		put1(s, user(name, ""));
	}
	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.revision, 12);
	cr_assert_eq(c.journal_first, 8);
	cr_assert_eq(c.journal_len, 5);
	cr_assert_eq(store_changes_since(s, 7, 0, collect, &sn), 5);
	cr_assert_eq(sn.revs[0], 8);
	cr_assert_eq(store_changes_since(s, 6, 0, collect, &sn), TDM_ENOTFOUND,
		     "revision 7 is gone: a snapshot is needed");
	cr_assert_eq(store_changes_since(s, 0, 0, collect, &sn), TDM_ENOTFOUND);
	store_close(s);
}

static int count_cb(const struct store_obj *o, void *arg)
{
	(*(unsigned *)arg)++;
	return 0;
}

Test(store, a_snapshot_replaces_everything_at_its_commit)
{
	struct store *s = open_store();
	struct store_txn *t;
	struct store_user u;
	struct store_counts c;
	uint8_t id[STORE_ID_LEN];
	struct store_obj a = user("carol", "300"), b = user("dave", "400");
	struct store_obj l = license(STORE_LIC_PORTS, 5);

	put1(s, user("alice", "100"));
	put1(s, user("bob", "200"));
	memset(id, 0x5a, sizeof(id));

	cr_assert_eq(store_snapshot_begin(s, &t), 0);
	cr_assert_eq(store_snapshot_add(t, &a), 0);
	cr_assert_eq(store_snapshot_add(t, &b), 0);
	cr_assert_eq(store_snapshot_add(t, &l), 0);
	/* Until the commit, readers see the old set. */
	cr_assert_eq(store_find_user(s, "alice", &u), 0);
	cr_assert_eq(store_find_user(s, "carol", &u), TDM_ENOTFOUND);
	cr_assert_eq(store_snapshot_commit(t, id, 77), 0);

	cr_assert_eq(store_find_user(s, "alice", &u), TDM_ENOTFOUND);
	cr_assert_eq(store_find_user(s, "100", &u), TDM_ENOTFOUND, "the numbers index too");
	cr_assert_eq(store_find_user(s, "400", &u), 0);
	cr_assert_str_eq(u.name, "dave");
	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.users, 2);
	cr_assert_eq(c.licenses, 1);
	cr_assert_eq(c.revision, 77);
	cr_assert_eq(c.journal_len, 0);
	cr_assert_eq(memcmp(c.id, id, STORE_ID_LEN), 0, "the master's id is adopted");

	/* Changes continue from the snapshot's revision. */
	struct seen sn = { 0 };
	cr_assert_eq(store_changes_since(s, 77, 0, collect, &sn), 0);
	store_close(s);
}

Test(store, an_aborted_snapshot_keeps_the_previous_complete_set)
{
	struct store *s = open_store();
	struct store_txn *t;
	struct store_counts c;
	struct store_obj a = user("carol", "");
	unsigned n = 0;

	put1(s, user("alice", "100"));
	put1(s, user("bob", "200"));
	cr_assert_eq(store_snapshot_begin(s, &t), 0);
	cr_assert_eq(store_snapshot_add(t, &a), 0);
	store_abort(t);
	cr_assert_eq(store_foreach(s, STORE_USER, count_cb, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.revision, 2);
	store_close(s);

	/* A process that dies mid-snapshot: the same, after reopening. */
	s = open_store();
	n = 0;
	cr_assert_eq(store_foreach(s, STORE_USER, count_cb, &n), 0);
	cr_assert_eq(n, 2);
	store_close(s);
}

Test(store, a_snapshot_with_the_same_key_twice_is_a_protocol_error)
{
	struct store *s = open_store();
	struct store_txn *t;
	struct store_obj a = user("carol", ""), d = del_user("carol");

	cr_assert_eq(store_snapshot_begin(s, &t), 0);
	cr_assert_eq(store_snapshot_add(t, &a), 0);
	cr_assert_eq(store_snapshot_add(t, &a), TDM_EPROTO);
	cr_assert_eq(store_snapshot_add(t, &d), TDM_EMALFORMED, "a snapshot holds no deletions");
	store_abort(t);
	store_close(s);
}

Test(store, the_masters_changes_apply_in_revision_order_only)
{
	struct store *s = open_store();
	struct store_txn *t;
	struct store_obj a = user("alice", "100"), b = user("bob", ""), d = del_user("zed");
	struct store_counts c;

	cr_assert_eq(store_begin_apply(s, &t), 0);
	cr_assert_eq(store_stage_rev(t, &a, 10), 0);
	cr_assert_eq(store_stage_rev(t, &b, 10), TDM_EPROTO, "not above the last");
	cr_assert_eq(store_stage_rev(t, &d, 11), 0, "deleting what is missing is fine here");
	cr_assert_eq(store_stage_rev(t, &b, 12), 0);
	cr_assert_eq(store_commit(t), 12);
	cr_assert_eq(store_counts(s, &c), 0);
	cr_assert_eq(c.revision, 12);
	cr_assert_eq(c.users, 2);

	/* A local stage is not an apply and vice versa. */
	cr_assert_eq(store_begin(s, &t), 0);
	cr_assert_eq(store_stage_rev(t, &b, 13), -EINVAL);
	store_abort(t);
	store_close(s);
}

Test(store, a_snapshot_read_does_not_see_later_commits)
{
	struct store *s = open_store();
	struct store_read *r;
	struct store_obj o;
	uint64_t rev, count;
	uint8_t id[STORE_ID_LEN];
	unsigned users = 0, lics = 0;
	int rc;

	put1(s, user("alice", "100"));
	put1(s, user("bob", ""));
	put1(s, license(STORE_LIC_PORTS, 3));
	cr_assert_eq(store_read_open(s, &r, &rev, &count, id), 0);
	cr_assert_eq(rev, 3);
	cr_assert_eq(count, 3);
	put1(s, user("carol", ""));
	while ((rc = store_read_next(r, &o)) == 1) {
		if (o.kind == STORE_USER) {
			cr_assert_eq(lics, 0, "users come first");
			users++;
		} else {
			lics++;
		}
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(users, 2);
	cr_assert_eq(lics, 1);
	store_read_close(r);
	store_close(s);
}

/* ---- codec ---------------------------------------------------------------- */

TestSuite(store_codec);

Test(store_codec, every_kind_round_trips)
{
	struct store_obj in[5], out;
	uint8_t buf[STORE_OBJ_MAX];
	char err[128];

	in[0] = user("alice", "+4930123");
	in[1] = del_user("bob");
	in[2] = license(STORE_LIC_STANDBY, 4000000000u);
	memset(&in[3], 0, sizeof(in[3]));
	in[3].kind = STORE_SETTING;
	snprintf(in[3].u.setting.key, sizeof(in[3].u.setting.key), "sip.domain");
	snprintf(in[3].u.setting.value, sizeof(in[3].u.setting.value), "example.com");
	in[4] = user("nopass", "");
	in[4].u.user.has_password = false;
	memset(in[4].u.user.ha1_md5, 0, sizeof(in[4].u.user.ha1_md5));
	memset(in[4].u.user.ha1_sha256, 0, sizeof(in[4].u.user.ha1_sha256));
	in[4].u.user.enabled = false;
	in[4].u.user.max_contacts = 3;
	for (unsigned i = 0; i < 5; i++) {
		int len = store_obj_encode(&in[i], buf, sizeof(buf));
		cr_assert_gt(len, 0);
		cr_assert_eq(store_obj_decode(buf, (size_t)len, &out, err, sizeof(err)), 0, "%s",
			     err);
		cr_assert_eq(memcmp(&in[i], &out, sizeof(out)), 0, "object %u", i);
	}
}

Test(store_codec, the_encoding_is_the_documented_bytes)
{
	struct store_obj o = license(STORE_LIC_PORTS, 258);
	uint8_t buf[64];
	static const uint8_t want[] = { 2, 0, 1, 0, 0, 1, 2 };

	cr_assert_eq(store_obj_encode(&o, buf, sizeof(buf)), (int)sizeof(want));
	cr_assert_eq(memcmp(buf, want, sizeof(want)), 0);

	o = del_user("ab");
	static const uint8_t want2[] = { 1, 1, 0, 2, 'a', 'b' };
	cr_assert_eq(store_obj_encode(&o, buf, sizeof(buf)), (int)sizeof(want2));
	cr_assert_eq(memcmp(buf, want2, sizeof(want2)), 0);
}

Test(store_codec, every_truncation_is_malformed)
{
	struct store_obj o = user("alice", "100"), out;
	uint8_t buf[STORE_OBJ_MAX];
	char err[128];
	int len = store_obj_encode(&o, buf, sizeof(buf));

	cr_assert_gt(len, 0);
	for (int n = 0; n < len; n++) {
		/* A private copy of exactly n bytes: an overread is caught by
		 * ASan. */
		uint8_t *cut = malloc((size_t)n + 1);
		memcpy(cut, buf, (size_t)n);
		cr_assert_eq(store_obj_decode(cut, (size_t)n, &out, err, sizeof(err)),
			     TDM_EMALFORMED, "%d of %d bytes", n, len);
		cr_assert_neq(err[0], '\0');
		free(cut);
	}
}

Test(store_codec, hostile_bytes_are_refused_with_the_field_named)
{
	struct store_obj o = user("alice", "100"), out;
	uint8_t buf[STORE_OBJ_MAX];
	char err[128];
	int len = store_obj_encode(&o, buf, sizeof(buf));

	/* Trailing bytes. */
	buf[len] = 0;
	cr_assert_eq(store_obj_decode(buf, (size_t)len + 1, &out, err, sizeof(err)),
		     TDM_EMALFORMED);
	cr_assert_not_null(strstr(err, "after the last field"), "%s", err);

	/* Unknown kind, reserved flags. */
	buf[0] = 9;
	cr_assert_eq(store_obj_decode(buf, (size_t)len, &out, err, sizeof(err)), TDM_EMALFORMED);
	cr_assert_not_null(strstr(err, "kind"), "%s", err);
	buf[0] = 1;
	buf[1] = 0x80;
	cr_assert_eq(store_obj_decode(buf, (size_t)len, &out, err, sizeof(err)), TDM_EMALFORMED);
	cr_assert_not_null(strstr(err, "flags"), "%s", err);
	buf[1] = 0;

	/* A name with a NUL, a name too long, a name with a space. */
	uint8_t nul[] = { 1, 1, 0, 3, 'a', 0, 'b' };
	cr_assert_eq(store_obj_decode(nul, sizeof(nul), &out, err, sizeof(err)), TDM_EMALFORMED);
	cr_assert_not_null(strstr(err, "NUL"), "%s", err);
	uint8_t lng[2 + 2 + 64];
	lng[0] = 1;
	lng[1] = 1;
	lng[2] = 0;
	lng[3] = 64;
	memset(lng + 4, 'a', 64);
	cr_assert_eq(store_obj_decode(lng, sizeof(lng), &out, err, sizeof(err)), TDM_EMALFORMED);
	cr_assert_not_null(strstr(err, "too long"), "%s", err);
	uint8_t sp[] = { 1, 1, 0, 3, 'a', ' ', 'b' };
	cr_assert_eq(store_obj_decode(sp, sizeof(sp), &out, err, sizeof(err)), TDM_EMALFORMED);

	/* A length that claims more than there is. */
	uint8_t big[] = { 3, 0, 0xff, 0xff, 'k' };
	cr_assert_eq(store_obj_decode(big, sizeof(big), &out, err, sizeof(err)), TDM_EMALFORMED);
}

Test(store_codec, random_bytes_never_crash_and_accepted_ones_are_valid)
{
	uint8_t buf[96];
	struct store_obj out;
	unsigned seed = 12345, accepted = 0;

	for (int i = 0; i < 200000; i++) {
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		/* Plausible headers half the time, to get past the first
		 * checks. */
		if (n >= 2 && (i & 1)) {
			buf[0] = (uint8_t)(1 + i % 3);
			buf[1] = (uint8_t)(i & 2 ? 1 : 0);
		}
		if (store_obj_decode(buf, n, &out, NULL, 0) == 0) {
			accepted++;
			cr_assert_null(store_obj_valid(&out));
		}
	}
	cr_assert_gt(accepted, 0, "some random deletions decode");
}
