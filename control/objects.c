/* SPDX-License-Identifier: MIT */
/*
 * The node's objects (see objects.h, docs/objects.md).
 *
 * Ownership. The control thread owns the store's small write transactions
 * (one command, one frame of replicated changes), the live users table
 * (users_put / users_del) and the RCU pointer to it. While an import or a
 * replicated snapshot runs (o->busy), the job thread owns the store's
 * writer and builds a complete new users table off to the side; the
 * control thread then refuses writes, and swaps the new table in when the
 * job is done (readers see the old set or the new one, never a mix). Old
 * tables are freed on the job thread after a grace period.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "digest.h"
#include "err.h"
#include "jobs.h"
#include "log.h"
#include "objects.h"
#include "rcu.h"
#include "store.h"
#include "users_file.h"

#define OBJECTS_DIR "objects"
#define LIST_MAX 10000          /* user list without --limit */

enum import_state { IMPORT_NONE, IMPORT_RUNNING, IMPORT_DONE, IMPORT_FAILED };

struct import {
	struct objects *o;
	char path[PATH_MAX];
	char realm[USER_DOMAIN_MAX];
	enum import_state state;
	atomic_uint_fast64_t rows;      /* rows read so far (job thread) */
	atomic_uint_fast64_t total;     /* data rows in the file, once counted */
	uint64_t changed, unchanged;
	int64_t first_rev, last_rev;
	struct users *table;            /* the new table, built after the commit */
	unsigned realm_mismatch;
	uint64_t started_ms, ended_ms;
	bool committed;                 /* the store has the import */
	int rc;
	char err[USERS_FILE_ERR_MAX + 64];
};

struct snap {
	struct objects *o;
	uint64_t gen;
	uint8_t id[STORE_ID_LEN];
	uint64_t revision;
	struct store_txn *txn;
	struct users *table;
	unsigned realm_mismatch;
	int rc;                         /* first failure of a job (job thread) */
	bool committed;                 /* job thread */
	bool abort_pending;             /* control thread */
};

struct chunk {
	struct snap *s;
	uint32_t seq;
	uint32_t n;
	struct store_obj objs[];
};

struct objects {
	struct objects_params p;
	const struct config *cfg;
	bool is_master;
	char realm[USER_DOMAIN_MAX];
	struct store *store;
	struct jobs *jobs;
	struct objsync *sync;
	struct objects_licenses lic;
	bool busy;                      /* an import or a snapshot owns the writer */
	struct import *imp;             /* the running or last import */
	struct snap *snap;              /* the running snapshot (standby) */
	unsigned realm_mismatch;        /* users whose HA1 is for another realm */
	bool peer_up;
	char settings_diff[512];        /* keys that differ from the peer's */
	unsigned nsettings_diff;
	uint64_t writes;                /* changes committed by commands */
	uint64_t refused;               /* commands refused */
};

/* ---------------------------------------------------------------- */
/* Users table */

/* A table user from a stored one. HA1 values for another realm cannot
 * check a response: such a user cannot authenticate here. */
static struct user *user_from_store(const struct store_user *su, const char *realm,
				    uint64_t revision, unsigned *mismatch)
{
	struct user *u = users_alloc();

	if (!u)
		return NULL;
	memcpy(u->name, su->name, sizeof(u->name));
	memcpy(u->number, su->number, sizeof(u->number));
	memcpy(u->domain, su->domain, sizeof(u->domain));
	memcpy(u->display, su->display, sizeof(u->display));
	u->enabled = su->enabled;
	u->max_contacts = su->max_contacts;
	u->revision = revision;
	u->has_password = su->has_password;
	if (u->has_password && strcmp(su->realm, realm) != 0) {
		u->has_password = false;
		if (mismatch)
			(*mismatch)++;
	}
	if (u->has_password) {
		memcpy(u->ha1_md5, su->ha1_md5, sizeof(u->ha1_md5));
		memcpy(u->ha1_sha256, su->ha1_sha256, sizeof(u->ha1_sha256));
	}
	return u;
}

struct build {
	struct users *table;
	const char *realm;
	unsigned mismatch;
	int rc;
};

static int build_one(const struct store_obj *obj, void *arg)
{
	struct build *b = arg;
	struct user *u = user_from_store(&obj->u.user, b->realm, 0, &b->mismatch);
	int rc;

	if (!u)
		return -ENOMEM;
	rc = users_put(b->table, u);
	return rc < 0 ? rc : 0;
}

/* A complete users table from the store (any registered, online thread:
 * nobody reads the new table yet). */
static int build_table(struct store *st, const char *realm, struct users **out,
		       unsigned *mismatch)
{
	struct build b = { .realm = realm };
	int rc;

	*out = NULL;
	b.table = users_create();
	if (!b.table)
		return -ENOMEM;
	rc = store_foreach(st, STORE_USER, build_one, &b);
	if (rc < 0) {
		users_destroy(b.table);
		return rc;
	}
	*out = b.table;
	*mismatch = b.mismatch;
	return 0;
}

static int destroy_table_work(void *arg)
{
	/* Readers may still hold users of the old table until every one of
	 * them has passed a quiescent state. */
	synchronize_rcu();
	tdm_rcu_after_grace_period();
	users_destroy(arg);
	return 0;
}

/* Publish a new table; the old one is freed on the job thread. */
static void swap_table(struct objects *o, struct users *table, unsigned mismatch)
{
	struct users *old = tdm_rcu_xchg_pointer(o->p.users, table);

	o->realm_mismatch = mismatch;
	if (mismatch)
		log_warn("objects", "%u users have password hashes for another realm than "
			 "'%s' and cannot authenticate here (is [sip] domain the same on both "
			 "nodes?)", mismatch, o->realm);
	if (old && jobs_submit(o->jobs, destroy_table_work, NULL, old) < 0) {
		/* No memory for a job: wait here rather than leak. */
		tdm_rcu_thread_offline();
		synchronize_rcu();
		tdm_rcu_thread_online();
		users_destroy(old);
	}
}

/* Apply one committed change to the live table (control thread). */
static void table_apply(struct objects *o, const struct store_obj *obj, uint64_t rev)
{
	struct users *t = rcu_dereference(*o->p.users);

	if (obj->kind != STORE_USER || !t)
		return;
	if (obj->deleted) {
		users_del(t, tstr_cstr(obj->u.user.name));
		return;
	}
	unsigned mismatch = 0;
	struct user *u = user_from_store(&obj->u.user, o->realm, rev, &mismatch);
	if (!u) {
		log_err("objects", "out of memory: user '%s' is stored but not in the table "
			"until the next restart", obj->u.user.name);
		return;
	}
	o->realm_mismatch += mismatch;
	if (users_put(t, u) < 0)
		log_err("objects", "user '%s' is stored but its number clashes in the table",
			obj->u.user.name);
}

/* ---------------------------------------------------------------- */
/* Licenses */

static void load_licenses(struct objects *o)
{
	struct objects_licenses l = { 0 };
	struct store_obj obj = { .kind = STORE_LICENSE };

	obj.u.license.kind = STORE_LIC_PORTS;
	if (store_get(o->store, &obj) == 0) {
		l.ports_set = true;
		l.ports = obj.u.license.count;
	}
	memset(&obj, 0, sizeof(obj));
	obj.kind = STORE_LICENSE;
	obj.u.license.kind = STORE_LIC_STANDBY;
	if (store_get(o->store, &obj) == 0) {
		l.standby_set = true;
		l.standby = obj.u.license.count;
	}
	if (memcmp(&l, &o->lic, sizeof(l)) != 0) {
		char a[32] = "unlimited", b[32] = "none";
		if (l.ports_set)
			snprintf(a, sizeof(a), "%u", l.ports);
		if (l.standby_set)
			snprintf(b, sizeof(b), "%u", l.standby);
		log_info("objects", "licenses: %s ports, %s standby", a, b);
	}
	o->lic = l;
	if (o->p.on_licenses)
		o->p.on_licenses(o->p.arg, &l);
}

void objects_licenses(const struct objects *o, struct objects_licenses *out)
{
	*out = o->lic;
}

/* ---------------------------------------------------------------- */
/* General settings */

struct setting_kv {
	const char *key;
	char value[STORE_SETTING_VALUE_MAX];
};

#define NSETTINGS 8

static void general_settings(const struct config *cfg, struct setting_kv kv[NSETTINGS])
{
	unsigned i = 0;

	kv[i].key = "domain";
	snprintf(kv[i++].value, STORE_SETTING_VALUE_MAX, "%s", cfg->sip.domain);
	kv[i].key = "auth";
	snprintf(kv[i++].value, STORE_SETTING_VALUE_MAX, "%s", auth_mode_name(cfg->sip.auth));
	kv[i].key = "auth_algorithms";
	kv[i].value[0] = '\0';
	for (unsigned a = 0; a < cfg->sip.nauth_algorithms; a++) {
		size_t n = strlen(kv[i].value);
		snprintf(kv[i].value + n, STORE_SETTING_VALUE_MAX - n, "%s%s", a ? "," : "",
			 cfg->sip.auth_algorithms[a] == AUTH_ALG_MD5 ? "md5" : "sha-256");
	}
	i++;
	kv[i].key = "default_expires";
	snprintf(kv[i++].value, STORE_SETTING_VALUE_MAX, "%u", cfg->sip.default_expires);
	kv[i].key = "min_expires";
	snprintf(kv[i++].value, STORE_SETTING_VALUE_MAX, "%u", cfg->sip.min_expires);
	kv[i].key = "max_expires";
	snprintf(kv[i++].value, STORE_SETTING_VALUE_MAX, "%u", cfg->sip.max_expires);
	kv[i].key = "max_contacts";
	snprintf(kv[i++].value, STORE_SETTING_VALUE_MAX, "%u", cfg->sip.max_contacts);
	kv[i].key = "nonce_lifetime";
	snprintf(kv[i++].value, STORE_SETTING_VALUE_MAX, "%u", cfg->sip.nonce_lifetime);
}

void objects_settings_text(const struct config *cfg, char *buf, size_t cap)
{
	struct setting_kv kv[NSETTINGS];
	size_t n = 0;

	general_settings(cfg, kv);
	buf[0] = '\0';
	for (unsigned i = 0; i < NSETTINGS && n < cap; i++) {
		int w = snprintf(buf + n, cap - n, "%s=%s\n", kv[i].key, kv[i].value);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* The value of key in an info blob ("key=value" lines); false if absent. */
static bool info_value(const uint8_t *info, uint32_t len, const char *key, char *out,
		       size_t cap)
{
	size_t klen = strlen(key);
	uint32_t i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(info + i, '\n', len - i);
		uint32_t end = nl ? (uint32_t)(nl - info) : len;

		if (end - i > klen && memcmp(info + i, key, klen) == 0 && info[i + klen] == '=') {
			size_t n = end - i - klen - 1;
			if (n >= cap)
				n = cap - 1;
			memcpy(out, info + i + klen + 1, n);
			out[n] = '\0';
			return true;
		}
		i = end + 1;
	}
	return false;
}

/* ---------------------------------------------------------------- */
/* Local writes (master) */

static const char standby_refusal[] =
	"this node is a standby: objects are replicated from the master; make the change "
	"there";

/* Commit n changes in one transaction and apply them. On failure writes a
 * line to err; nothing is changed then. Returns the last revision or a
 * negative error. */
static int64_t commit_local(struct objects *o, const struct store_obj *objs, unsigned n,
			    char *err, size_t errcap)
{
	struct store_txn *t;
	int64_t rev = 0, first = 0;
	int rc;

	if (o->busy) {
		snprintf(err, errcap, "an import or a snapshot is being written; try again when "
			 "it is done (tandemctl user import status)");
		return -EBUSY;
	}
	rc = store_begin(o->store, &t);
	if (rc < 0) {
		snprintf(err, errcap, "the object store is busy: %s", tdm_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < n; i++) {
		rev = store_stage(t, &objs[i]);
		if (rev < 0) {
			const char *why = store_obj_valid(&objs[i]);
			if (rev == TDM_EEXISTS)
				snprintf(err, errcap, "'%s' is already another user's name or number",
					 objs[i].u.user.number[0] && strcmp(objs[i].u.user.number,
									    objs[i].u.user.name)
						 ? objs[i].u.user.number
						 : objs[i].u.user.name);
			else if (rev == TDM_ENOTFOUND)
				snprintf(err, errcap, "no such %s", store_kind_name(objs[i].kind));
			else if (rev == TDM_EMALFORMED && why)
				snprintf(err, errcap, "%s", why);
			else if (rev == -ENOSPC)
				snprintf(err, errcap, "the object store is full (data_dir %.160s)",
					 o->cfg->node.data_dir);
			else
				snprintf(err, errcap, "cannot store: %s", tdm_strerror((int)rev));
			store_abort(t);
			return rev;
		}
		if (!first)
			first = rev;
	}
	rev = store_commit(t);
	if (rev < 0) {
		snprintf(err, errcap, "cannot commit: %s", tdm_strerror((int)rev));
		return rev;
	}
	bool licenses = false;
	for (unsigned i = 0; i < n; i++) {
		table_apply(o, &objs[i], (uint64_t)(first + (int64_t)i));
		licenses |= objs[i].kind == STORE_LICENSE;
	}
	if (licenses)
		load_licenses(o);
	o->writes += n;
	if (o->sync)
		objsync_committed(o->sync, (uint64_t)rev, clock_mono_ms());
	return rev;
}

static void hash_password(struct store_user *u, const char *realm, const char *password)
{
	snprintf(u->realm, sizeof(u->realm), "%s", realm);
	digest_ha1(DIGEST_MD5, tstr_cstr(u->name), tstr_cstr(realm), tstr_cstr(password),
		   u->ha1_md5);
	digest_ha1(DIGEST_SHA256, tstr_cstr(u->name), tstr_cstr(realm), tstr_cstr(password),
		   u->ha1_sha256);
	u->has_password = true;
}

/* ---------------------------------------------------------------- */
/* Import (master; the job thread) */

struct import_row_ctx {
	struct import *imp;
	struct objects *o;
	struct store_txn *txn;
};

static bool same_user(const struct store_user *a, const struct store_user *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->number, b->number) == 0 &&
	       strcmp(a->domain, b->domain) == 0 && strcmp(a->display, b->display) == 0 &&
	       strcmp(a->realm, b->realm) == 0 && a->has_password == b->has_password &&
	       a->enabled == b->enabled && a->max_contacts == b->max_contacts &&
	       (!a->has_password ||
		(memcmp(a->ha1_md5, b->ha1_md5, sizeof(a->ha1_md5)) == 0 &&
		 memcmp(a->ha1_sha256, b->ha1_sha256, sizeof(a->ha1_sha256)) == 0));
}

/*
 * A row onto the stored user of that name: columns the file has replace
 * the stored values (an empty password field removes the password); the
 * columns it lacks keep them. A new user is enabled.
 */
static int import_row(const struct users_row *row, void *arg, char *err, size_t errcap)
{
	struct import_row_ctx *c = arg;
	struct store_obj obj = { .kind = STORE_USER };
	struct store_user *u = &obj.u.user, old;
	bool exists = store_find_user(c->o->store, row->name, &old) == 0 &&
		      strcmp(old.name, row->name) == 0;
	int64_t rev;

	if (exists)
		*u = old;
	else
		u->enabled = true;
	snprintf(u->name, sizeof(u->name), "%s", row->name);
	if (!exists || (row->columns & USERS_COL_NUMBER))
		snprintf(u->number, sizeof(u->number), "%s", row->number);
	if (!exists || (row->columns & USERS_COL_DOMAIN))
		snprintf(u->domain, sizeof(u->domain), "%s", row->domain);
	if (!exists || (row->columns & USERS_COL_DISPLAY))
		snprintf(u->display, sizeof(u->display), "%s", row->display);
	if (!exists || (row->columns & USERS_COL_MAX_CONTACTS))
		u->max_contacts = row->max_contacts;
	if (!exists || (row->columns & USERS_COL_PASSWORD)) {
		if (row->password[0]) {
			hash_password(u, c->imp->realm, row->password);
		} else {
			u->has_password = false;
			u->realm[0] = '\0';
			memset(u->ha1_md5, 0, sizeof(u->ha1_md5));
			memset(u->ha1_sha256, 0, sizeof(u->ha1_sha256));
		}
	}
	atomic_fetch_add(&c->imp->rows, 1);
	if (exists && same_user(&old, u)) {
		c->imp->unchanged++;
		return 0;
	}
	rev = store_stage(c->txn, &obj);
	if (rev < 0) {
		if (rev == TDM_EEXISTS)
			snprintf(err, errcap, "user '%s': number '%s' or the name is already another "
				 "user's", u->name, u->number);
		else if (rev == -ENOSPC)
			snprintf(err, errcap, "the object store is full");
		else
			snprintf(err, errcap, "user '%s': %s", u->name,
				 rev == TDM_EMALFORMED && store_obj_valid(&obj)
					 ? store_obj_valid(&obj)
					 : tdm_strerror((int)rev));
		return (int)rev;
	}
	if (!c->imp->first_rev)
		c->imp->first_rev = rev;
	c->imp->last_rev = rev;
	c->imp->changed++;
	return 0;
}

/* Data rows of a CSV file, roughly (line ends), for the progress line. */
static uint64_t count_lines(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint64_t n = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		const char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			const char *q = p, *end = p + st.st_size;
			while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
				n++;
				q++;
			}
			if (end > p && end[-1] != '\n')
				n++;
			munmap((void *)p, (size_t)st.st_size);
		}
	}
	close(fd);
	return n ? n - 1 : 0;  /* the header */
}

static int import_work(void *arg)
{
	struct import *imp = arg;
	struct objects *o = imp->o;
	struct import_row_ctx c = { .imp = imp, .o = o };
	int rc;

	atomic_store(&imp->total, count_lines(imp->path));
	rc = store_begin(o->store, &c.txn);
	if (rc < 0) {
		snprintf(imp->err, sizeof(imp->err), "the object store is busy: %s",
			 tdm_strerror(rc));
		return rc;
	}
	rc = users_file_read(imp->path, import_row, &c, imp->err, sizeof(imp->err));
	if (rc < 0) {
		store_abort(c.txn);
		return rc;
	}
	int64_t rev = store_commit(c.txn);
	if (rev < 0) {
		snprintf(imp->err, sizeof(imp->err), "cannot commit: %s", tdm_strerror((int)rev));
		return (int)rev;
	}
	imp->committed = true;
	if (!imp->changed)
		return 0;
	rc = build_table(o->store, imp->realm, &imp->table, &imp->realm_mismatch);
	if (rc < 0)
		snprintf(imp->err, sizeof(imp->err), "stored, but the users table could not be "
			 "rebuilt (%s): the registrar uses the old users until the node restarts",
			 tdm_strerror(rc));
	return 0;
}

static void import_done(void *arg, int rc)
{
	struct import *imp = arg;
	struct objects *o = imp->o;

	imp->rc = rc;
	imp->ended_ms = clock_mono_ms();
	o->busy = false;
	if (rc < 0) {
		imp->state = IMPORT_FAILED;
		log_warn("objects", "import of %s refused, nothing changed: %s", imp->path,
			 imp->err);
		return;
	}
	imp->state = IMPORT_DONE;
	if (imp->changed && !imp->table)
		log_err("objects", "import of %s: %s", imp->path, imp->err);
	if (imp->table) {
		swap_table(o, imp->table, imp->realm_mismatch);
		imp->table = NULL;
	}
	o->writes += imp->changed;
	log_info("objects", "imported %s: %" PRIu64 " users changed, %" PRIu64 " unchanged, "
		 "revisions %" PRId64 "-%" PRId64 " in %" PRIu64 " ms", imp->path, imp->changed,
		 imp->unchanged, imp->first_rev, imp->last_rev, imp->ended_ms - imp->started_ms);
	if (imp->changed && o->sync)
		objsync_committed(o->sync, (uint64_t)imp->last_rev, clock_mono_ms());
}

/* ---------------------------------------------------------------- */
/* Replicated snapshot (standby; the job thread) */

static int snap_begin_work(void *arg)
{
	struct snap *s = arg;
	int rc = store_snapshot_begin(s->o->store, &s->txn);

	if (rc == 0) {
		s->table = users_create();
		if (!s->table)
			rc = -ENOMEM;
	}
	if (rc < 0 && !s->rc)
		s->rc = rc;
	return rc;
}

static int chunk_work(void *arg)
{
	struct chunk *c = arg;
	struct snap *s = c->s;

	if (s->rc < 0)
		return s->rc;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct store_obj *obj = &c->objs[i];
		int rc = store_snapshot_add(s->txn, obj);

		if (rc == 0 && obj->kind == STORE_USER) {
			struct user *u = user_from_store(&obj->u.user, s->o->realm, s->revision,
							 &s->realm_mismatch);
			rc = u ? users_put(s->table, u) : -ENOMEM;
		}
		if (rc < 0) {
			s->rc = rc;
			return rc;
		}
	}
	return 0;
}

static void chunk_done(void *arg, int rc)
{
	struct chunk *c = arg;
	struct objects *o = c->s->o;

	if (o->sync)
		objsync_chunk_done(o->sync, c->s->gen, c->seq, rc);
	free(c);
}

static int snap_commit_work(void *arg)
{
	struct snap *s = arg;
	int rc;

	if (s->rc < 0) {
		store_abort(s->txn);
		s->txn = NULL;
		return s->rc;
	}
	rc = store_snapshot_commit(s->txn, s->id, s->revision);
	s->txn = NULL;
	if (rc < 0) {
		s->rc = rc;
		return rc;
	}
	s->committed = true;
	return 0;
}

static void snap_free(struct snap *s)
{
	if (s->o->snap == s) {
		s->o->snap = NULL;
		s->o->busy = false;
	}
	free(s);
}

static void snap_commit_done(void *arg, int rc)
{
	struct snap *s = arg;
	struct objects *o = s->o;

	if (rc == 0) {
		/* The store has the new set: publish it, whatever the link
		 * did meanwhile. */
		swap_table(o, s->table, s->realm_mismatch);
		s->table = NULL;
		load_licenses(o);
		log_info("objects", "snapshot of revision %" PRIu64 " from the master stored",
			 s->revision);
	} else {
		log_warn("objects", "the master's snapshot could not be stored (%s); the previous "
			 "objects stay in force", tdm_strerror(rc));
	}
	if (o->sync)
		objsync_snapshot_done(o->sync, s->gen, rc, clock_mono_ms());
	if (!s->abort_pending) {
		if (s->table) {
			users_destroy(s->table);
			s->table = NULL;
		}
		snap_free(s);
	}
}

static int snap_abort_work(void *arg)
{
	struct snap *s = arg;

	store_abort(s->txn);
	s->txn = NULL;
	if (!s->committed && s->table) {
		users_destroy(s->table);
		s->table = NULL;
	}
	return 0;
}

static void snap_abort_done(void *arg, int rc)
{
	snap_free(arg);
}

static int sink_begin(void *arg, uint64_t gen, const uint8_t id[STORE_ID_LEN], uint64_t rev,
		      uint64_t count)
{
	struct objects *o = arg;
	struct snap *s;
	int rc;

	if (o->snap)
		return -EBUSY;  /* cannot happen: objsync aborts the old one first */
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = o;
	s->gen = gen;
	memcpy(s->id, id, STORE_ID_LEN);
	s->revision = rev;
	rc = jobs_submit(o->jobs, snap_begin_work, NULL, s);
	if (rc < 0) {
		free(s);
		return rc;
	}
	o->snap = s;
	o->busy = true;
	log_info("objects", "receiving a snapshot of %" PRIu64 " objects (revision %" PRIu64
		 ") from the master", count, rev);
	return 0;
}

static int sink_chunk(void *arg, uint64_t gen, uint32_t seq, const struct store_obj *objs,
		      uint32_t n)
{
	struct objects *o = arg;
	struct chunk *c;
	int rc;

	if (!o->snap || o->snap->gen != gen)
		return -EINVAL;
	c = malloc(sizeof(*c) + (size_t)n * sizeof(c->objs[0]));
	if (!c)
		return -ENOMEM;
	c->s = o->snap;
	c->seq = seq;
	c->n = n;
	memcpy(c->objs, objs, (size_t)n * sizeof(c->objs[0]));
	rc = jobs_submit(o->jobs, chunk_work, chunk_done, c);
	if (rc < 0)
		free(c);
	return rc;
}

static int sink_end(void *arg, uint64_t gen)
{
	struct objects *o = arg;

	if (!o->snap || o->snap->gen != gen)
		return -EINVAL;
	return jobs_submit(o->jobs, snap_commit_work, snap_commit_done, o->snap);
}

static void sink_abort(void *arg, uint64_t gen)
{
	struct objects *o = arg;
	struct snap *s = o->snap;

	if (!s || s->gen != gen)
		return;
	s->abort_pending = true;
	if (jobs_submit(o->jobs, snap_abort_work, snap_abort_done, s) < 0) {
		/* Cannot queue the abort: the job thread will still find the
		 * snapshot's failure flag and abort at the commit. */
		s->rc = -ENOMEM;
		s->abort_pending = false;
	}
	/* A new snapshot may start now; the abort runs before it. */
	o->snap = NULL;
	o->busy = false;
	log_warn("objects", "the master's snapshot was not completed; the previous objects "
		 "stay in force");
}

/* Changes from the master (control thread). */
static int sink_apply(void *arg, const uint64_t *revs, const struct store_obj *objs,
		      uint32_t n)
{
	struct objects *o = arg;
	struct store_txn *t;
	bool licenses = false;
	int rc;

	if (o->busy)
		return -EBUSY;
	rc = store_begin_apply(o->store, &t);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		rc = store_stage_rev(t, &objs[i], revs[i]);
		if (rc < 0) {
			store_abort(t);
			return rc;
		}
	}
	int64_t rev = store_commit(t);
	if (rev < 0)
		return (int)rev;
	for (uint32_t i = 0; i < n; i++) {
		table_apply(o, &objs[i], revs[i]);
		licenses |= objs[i].kind == STORE_LICENSE;
	}
	if (licenses)
		load_licenses(o);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Stats commands */

/* Parse "--opt value" pairs of user add / set. */
struct user_opts {
	const char *password;
	const char *number;
	const char *domain;
	const char *display;
	const char *max_contacts;
	bool no_password;
	int enabled;                    /* -1 unchanged, 0, 1 */
};

static bool parse_user_opts(int argc, char **argv, struct user_opts *u, struct out *out)
{
	memset(u, 0, sizeof(*u));
	u->enabled = -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (strcmp(a, "--password") == 0)
			slot = &u->password;
		else if (strcmp(a, "--number") == 0)
			slot = &u->number;
		else if (strcmp(a, "--domain") == 0)
			slot = &u->domain;
		else if (strcmp(a, "--display") == 0)
			slot = &u->display;
		else if (strcmp(a, "--max-contacts") == 0)
			slot = &u->max_contacts;
		else if (strcmp(a, "--no-password") == 0)
			u->no_password = true;
		else if (strcmp(a, "--enabled") == 0)
			u->enabled = 1;
		else if (strcmp(a, "--disabled") == 0)
			u->enabled = 0;
		else {
			out_error(out, "unknown option '%s' (options: --password P, --no-password, "
				  "--number N, --domain D, --display TEXT, --max-contacts N, "
				  "--enabled, --disabled)", a);
			return false;
		}
		if (slot) {
			if (i + 1 >= argc) {
				out_error(out, "%s needs a value", a);
				return false;
			}
			*slot = argv[++i];
		}
	}
	if (u->password && u->no_password) {
		out_error(out, "--password and --no-password exclude each other");
		return false;
	}
	if (u->password && !u->password[0]) {
		out_error(out, "--password needs a non-empty value (--no-password removes it)");
		return false;
	}
	return true;
}

static bool copy_field(char *dst, size_t cap, const char *v, const char *what, struct out *out)
{
	if (strlen(v) >= cap) {
		out_error(out, "%s: at most %zu characters", what, cap - 1);
		return false;
	}
	memcpy(dst, v, strlen(v) + 1);
	return true;
}

static bool apply_user_opts(struct objects *o, struct store_user *u, const struct user_opts *op,
			    struct out *out)
{
	if (op->number && !copy_field(u->number, sizeof(u->number), op->number, "number", out))
		return false;
	if (op->domain) {
		char host[USER_DOMAIN_MAX];
		if (op->domain[0] &&
		    config_host_normalize(op->domain, strlen(op->domain), host, sizeof(host)) < 0) {
			out_error(out, "domain: '%s' is not a host name or IP address", op->domain);
			return false;
		}
		snprintf(u->domain, sizeof(u->domain), "%s", op->domain[0] ? host : "");
	}
	if (op->display && !copy_field(u->display, sizeof(u->display), op->display, "display",
				       out))
		return false;
	if (op->max_contacts) {
		uint64_t v;
		if (!tstr_to_u64(tstr_cstr(op->max_contacts), CFG_MAX_CONTACTS_LIMIT, &v)) {
			out_error(out, "max-contacts: a number from 0 to %d (0: the node's "
				  "[sip] max_contacts)", CFG_MAX_CONTACTS_LIMIT);
			return false;
		}
		u->max_contacts = (uint32_t)v;
	}
	if (op->password) {
		if (strlen(op->password) >= USERS_PASSWORD_MAX) {
			out_error(out, "password: at most %d characters", USERS_PASSWORD_MAX - 1);
			return false;
		}
		hash_password(u, o->realm, op->password);
	}
	if (op->no_password) {
		u->has_password = false;
		u->realm[0] = '\0';
		memset(u->ha1_md5, 0, sizeof(u->ha1_md5));
		memset(u->ha1_sha256, 0, sizeof(u->ha1_sha256));
	}
	if (op->enabled >= 0)
		u->enabled = op->enabled;
	return true;
}

static bool refuse_on_standby(struct objects *o, struct out *out)
{
	if (o->is_master)
		return false;
	o->refused++;
	out_error(out, "%s", standby_refusal);
	return true;
}

static void out_user(struct out *out, const struct store_user *u)
{
	out_str(out, "name", u->name);
	out_str(out, "number", u->number);
	out_str(out, "domain", u->domain);
	out_str(out, "display", u->display);
	out_bool(out, "enabled", u->enabled);
	out_bool(out, "password", u->has_password);
	if (u->has_password)
		out_str(out, "realm", u->realm);
	out_u64(out, "max_contacts", u->max_contacts);
}

static void cmd_user_add(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct store_obj obj = { .kind = STORE_USER };
	struct user_opts op;
	struct store_user existing;
	char err[256];
	int64_t rev;

	if (refuse_on_standby(o, out))
		return;
	if (argc < 1 || argv[0][0] == '-') {
		out_error(out, "usage: user add NAME [--password P] [--number N] [--domain D] "
			  "[--display TEXT] [--max-contacts N] [--disabled]");
		return;
	}
	if (!parse_user_opts(argc - 1, argv + 1, &op, out))
		return;
	if (!copy_field(obj.u.user.name, sizeof(obj.u.user.name), argv[0], "name", out))
		return;
	if (store_find_user(o->store, argv[0], &existing) == 0 &&
	    strcmp(existing.name, argv[0]) == 0) {
		o->refused++;
		out_error(out, "user '%s' exists (user set changes it)", argv[0]);
		return;
	}
	obj.u.user.enabled = true;
	if (!apply_user_opts(o, &obj.u.user, &op, out))
		return;
	rev = commit_local(o, &obj, 1, err, sizeof(err));
	if (rev < 0) {
		o->refused++;
		out_error(out, "user '%s' not added: %s", argv[0], err);
		return;
	}
	out_str(out, "added", obj.u.user.name);
	out_u64(out, "revision", (uint64_t)rev);
}

static void cmd_user_set(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct store_obj obj = { .kind = STORE_USER };
	struct user_opts op;
	char err[256];
	int64_t rev;

	if (refuse_on_standby(o, out))
		return;
	if (argc < 2 || argv[0][0] == '-') {
		out_error(out, "usage: user set NAME [--password P | --no-password] [--number N] "
			  "[--domain D] [--display TEXT] [--max-contacts N] [--enabled | --disabled]");
		return;
	}
	if (!parse_user_opts(argc - 1, argv + 1, &op, out))
		return;
	if (store_find_user(o->store, argv[0], &obj.u.user) < 0 ||
	    strcmp(obj.u.user.name, argv[0]) != 0) {
		o->refused++;
		out_error(out, "no user named '%s'", argv[0]);
		return;
	}
	if (!apply_user_opts(o, &obj.u.user, &op, out))
		return;
	rev = commit_local(o, &obj, 1, err, sizeof(err));
	if (rev < 0) {
		o->refused++;
		out_error(out, "user '%s' not changed: %s", argv[0], err);
		return;
	}
	out_str(out, "changed", obj.u.user.name);
	out_u64(out, "revision", (uint64_t)rev);
}

static void cmd_user_del(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct store_obj obj = { .kind = STORE_USER, .deleted = true };
	char err[256];
	int64_t rev;

	if (refuse_on_standby(o, out))
		return;
	if (argc != 1) {
		out_error(out, "usage: user del NAME");
		return;
	}
	if (!copy_field(obj.u.user.name, sizeof(obj.u.user.name), argv[0], "name", out))
		return;
	rev = commit_local(o, &obj, 1, err, sizeof(err));
	if (rev < 0) {
		o->refused++;
		if (rev == TDM_ENOTFOUND)
			out_error(out, "no user named '%s'", argv[0]);
		else
			out_error(out, "user '%s' not deleted: %s", argv[0], err);
		return;
	}
	out_str(out, "deleted", obj.u.user.name);
	out_u64(out, "revision", (uint64_t)rev);
}

static void cmd_user_show(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct store_user u;
	const struct user *live;
	struct users *t = rcu_dereference(*o->p.users);

	if (argc != 1) {
		out_error(out, "usage: user show NAME|NUMBER");
		return;
	}
	if (store_find_user(o->store, argv[0], &u) < 0) {
		out_error(out, "no user named or numbered '%s'", argv[0]);
		return;
	}
	out_user(out, &u);
	live = t ? users_find(t, tstr_cstr(u.name)) : NULL;
	out_bool(out, "can_authenticate", live && live->enabled && live->has_password);
}

struct list_ctx {
	struct out *out;
	uint64_t limit, shown, total;
	const char *prefix;
};

static int list_one(const struct store_obj *obj, void *arg)
{
	struct list_ctx *c = arg;

	if (c->prefix && strncmp(obj->u.user.name, c->prefix, strlen(c->prefix)) != 0)
		return 0;
	c->total++;
	if (c->shown >= c->limit)
		return 0;
	out_obj_begin(c->out, NULL);
	out_user(c->out, &obj->u.user);
	out_obj_end(c->out);
	c->shown++;
	return 0;
}

static void cmd_user_list(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct list_ctx c = { .out = out, .limit = LIST_MAX };
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (!tstr_to_u64(tstr_cstr(argv[++i]), UINT32_MAX, &c.limit)) {
				out_error(out, "--limit: a number");
				return;
			}
		} else if (argv[i][0] != '-' && !c.prefix) {
			c.prefix = argv[i];
		} else {
			out_error(out, "usage: user list [PREFIX] [--limit N]");
			return;
		}
	}
	out_list_begin(out, "users");
	rc = store_foreach(o->store, STORE_USER, list_one, &c);
	out_list_end(out);
	if (rc < 0) {
		out_error(out, "cannot read the object store: %s", tdm_strerror(rc));
		return;
	}
	out_u64(out, "total", c.total);
	if (c.shown < c.total)
		out_fmt(out, "truncated", "showing %" PRIu64 " of %" PRIu64 " (--limit N)", c.shown,
			c.total);
}

static void out_import(struct out *out, const struct import *imp)
{
	static const char *const names[] = { "none", "running", "done", "failed" };
	uint64_t now = clock_mono_ms();

	out_str(out, "state", names[imp->state]);
	out_str(out, "file", imp->path);
	out_u64(out, "rows_read", atomic_load(&imp->rows));
	out_u64(out, "rows_in_file", atomic_load(&imp->total));
	if (imp->state == IMPORT_DONE) {
		out_u64(out, "changed", imp->changed);
		out_u64(out, "unchanged", imp->unchanged);
		if (imp->changed) {
			out_u64(out, "first_revision", (uint64_t)imp->first_rev);
			out_u64(out, "last_revision", (uint64_t)imp->last_rev);
		}
	}
	if (imp->state == IMPORT_FAILED)
		out_str(out, "error", imp->err);
	out_u64(out, "elapsed_ms", (imp->ended_ms ? imp->ended_ms : now) - imp->started_ms);
}

static void cmd_user_import(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct import *imp;

	if (argc == 1 && strcmp(argv[0], "status") == 0) {
		if (!o->imp) {
			out_str(out, "state", "none");
			return;
		}
		out_import(out, o->imp);
		return;
	}
	if (refuse_on_standby(o, out))
		return;
	if (argc != 1) {
		out_error(out, "usage: user import FILE.csv | user import status");
		return;
	}
	if (argv[0][0] != '/') {
		out_error(out, "user import: give the file's absolute path (it is read by "
			  "tandemd; tandemctl does this for you)");
		return;
	}
	if (access(argv[0], R_OK) < 0) {
		out_error(out, "user import: %s: %s", argv[0], strerror(errno));
		return;
	}
	if (o->busy) {
		o->refused++;
		out_error(out, "user import: an import or a snapshot is already being written");
		return;
	}
	imp = calloc(1, sizeof(*imp));
	if (!imp) {
		out_error(out, "out of memory");
		return;
	}
	imp->o = o;
	snprintf(imp->path, sizeof(imp->path), "%s", argv[0]);
	snprintf(imp->realm, sizeof(imp->realm), "%s", o->realm);
	imp->state = IMPORT_RUNNING;
	imp->started_ms = clock_mono_ms();
	if (jobs_submit(o->jobs, import_work, import_done, imp) < 0) {
		free(imp);
		out_error(out, "out of memory");
		return;
	}
	if (o->imp && o->imp->state != IMPORT_RUNNING)
		free(o->imp);
	o->imp = imp;
	o->busy = true;
	log_info("objects", "importing users from %s", imp->path);
	out_str(out, "import", "started");
	out_str(out, "file", imp->path);
}

static void cmd_licenses_set(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct store_obj objs[2];
	unsigned n = 0;
	char err[256];
	int64_t rev;

	if (refuse_on_standby(o, out))
		return;
	if (argc == 0 || argc % 2) {
		out_error(out, "usage: licenses set [--ports N|unlimited] [--standby N|none]");
		return;
	}
	for (int i = 0; i < argc; i += 2) {
		struct store_obj *obj = &objs[n];
		uint64_t v;

		memset(obj, 0, sizeof(*obj));
		obj->kind = STORE_LICENSE;
		if (strcmp(argv[i], "--ports") == 0)
			obj->u.license.kind = STORE_LIC_PORTS;
		else if (strcmp(argv[i], "--standby") == 0)
			obj->u.license.kind = STORE_LIC_STANDBY;
		else {
			out_error(out, "unknown option '%s' (--ports, --standby)", argv[i]);
			return;
		}
		for (unsigned k = 0; k < n; k++)
			if (objs[k].u.license.kind == obj->u.license.kind) {
				out_error(out, "%s given twice", argv[i]);
				return;
			}
		if (strcmp(argv[i + 1], "unlimited") == 0 || strcmp(argv[i + 1], "none") == 0) {
			struct store_obj cur = *obj;
			obj->deleted = true;
			if (store_get(o->store, &cur) == TDM_ENOTFOUND)
				continue; /* already unset */
		} else if (tstr_to_u64(tstr_cstr(argv[i + 1]), UINT32_MAX, &v)) {
			obj->u.license.count = (uint32_t)v;
		} else {
			out_error(out, "%s: a number from 0 to %u, or '%s'", argv[i], UINT32_MAX,
				  obj->u.license.kind == STORE_LIC_PORTS ? "unlimited" : "none");
			return;
		}
		n++;
	}
	if (n) {
		rev = commit_local(o, objs, n, err, sizeof(err));
		if (rev < 0) {
			o->refused++;
			out_error(out, "licenses not changed: %s", err);
			return;
		}
		out_u64(out, "revision", (uint64_t)rev);
	}
	if (o->lic.ports_set)
		out_u64(out, "ports", o->lic.ports);
	else
		out_str(out, "ports", "unlimited");
	if (o->lic.standby_set)
		out_u64(out, "standby", o->lic.standby);
	else
		out_str(out, "standby", "none");
}

static void show_objects(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	struct store_counts c;
	struct users *t = rcu_dereference(*o->p.users);
	char id[2 * STORE_ID_LEN + 1];

	if (store_counts(o->store, &c) < 0) {
		out_error(out, "cannot read the object store");
		return;
	}
	store_id_hex(c.id, id);
	out_str(out, "source", o->is_master ? "this node (master)"
					    : "replicated from the master (read-only)");
	out_u64(out, "revision", c.revision);
	out_obj_begin(out, "counts");
	out_u64(out, "users", c.users);
	out_u64(out, "licenses", c.licenses);
	out_u64(out, "settings", c.settings);
	out_obj_end(out);
	out_u64(out, "users_in_table", t ? users_count(t) : 0);
	out_u64(out, "users_other_realm", o->realm_mismatch);
	out_str(out, "store_id", id);
	out_u64(out, "journal_first", c.journal_first);
	out_u64(out, "journal_changes", c.journal_len);
	out_u64(out, "db_bytes", c.db_bytes);
	out_bool(out, "busy", o->busy);
	if (o->imp) {
		out_obj_begin(out, "import");
		out_import(out, o->imp);
		out_obj_end(out);
	}
}

const char *objects_takeover_blocked(const struct objects_licenses *l, char *buf, size_t cap)
{
	if (!l->ports_set)
		return NULL;
	if (!l->standby_set || l->standby < l->ports) {
		snprintf(buf, cap, "%u standby licenses for the master's %u ports",
			 l->standby_set ? l->standby : 0, l->ports);
		return buf;
	}
	return NULL;
}

static void show_licenses(void *ctx, int argc, char **argv, struct out *out)
{
	struct objects *o = ctx;
	uint64_t used = o->p.aors_in_use ? o->p.aors_in_use(o->p.arg) : 0;
	char why[128];
	const char *blocked = objects_takeover_blocked(&o->lic, why, sizeof(why));

	if (o->lic.ports_set) {
		out_u64(out, "ports", o->lic.ports);
		out_u64(out, "ports_free", used < o->lic.ports ? o->lic.ports - used : 0);
	} else {
		out_str(out, "ports", "unlimited");
	}
	out_u64(out, "ports_in_use", used);
	if (o->lic.standby_set)
		out_u64(out, "standby", o->lic.standby);
	else
		out_str(out, "standby", "none");
	out_str(out, "standby_takeover", blocked ? "blocked" : "allowed");
	if (blocked)
		out_str(out, "standby_takeover_reason", blocked);
	out_str(out, "source", o->is_master ? "this node (master)" : "replicated from the master");
}

static const struct cli_cmd object_cmds[] = {
	{ "user add", "NAME [--password P] [--number N] ...", "add a user (master)", cmd_user_add },
	{ "user set", "NAME [--password P] [--number N] ...", "change a user (master)",
	  cmd_user_set },
	{ "user del", "NAME", "delete a user (master)", cmd_user_del },
	{ "user show", "NAME|NUMBER", "one user", cmd_user_show },
	{ "user list", "[PREFIX] [--limit N]", "users in name order", cmd_user_list },
	{ "user import", "FILE.csv | status", "import a users file, all or nothing (master)",
	  cmd_user_import },
	{ "licenses set", "[--ports N|unlimited] [--standby N|none]", "set the licenses (master)",
	  cmd_licenses_set },
	{ "show objects", "", "object counts, revision, store, import progress", show_objects },
	{ "show licenses", "", "licenses, ports in use, whether a standby may take over",
	  show_licenses },
};

/* ---------------------------------------------------------------- */
/* Replication */

int objects_attach(struct objects *o, const struct objsync_io *io)
{
	struct objsync_params p = {
		.is_master = o->is_master,
		.store = o->store,
		.io = *io,
		.sink = { sink_begin, sink_chunk, sink_end, sink_abort, sink_apply, o },
	};

	return objsync_create(&p, &o->sync);
}

void objects_peer_up(struct objects *o, const uint8_t *info, uint32_t info_len)
{
	struct setting_kv kv[NSETTINGS];
	size_t n = 0;

	o->peer_up = true;
	/* The general settings: ours against the peer's. */
	general_settings(o->cfg, kv);
	o->settings_diff[0] = '\0';
	o->nsettings_diff = 0;
	for (unsigned i = 0; i < NSETTINGS; i++) {
		char theirs[STORE_SETTING_VALUE_MAX];

		if (!info_value(info, info_len, kv[i].key, theirs, sizeof(theirs)))
			continue;  /* a peer that does not say: nothing to compare */
		if (strcmp(theirs, kv[i].value) == 0)
			continue;
		log_warn("objects", "general setting '%s' differs: '%s' here, '%s' on the %s",
			 kv[i].key, kv[i].value, theirs, o->is_master ? "standby" : "master");
		int w = snprintf(o->settings_diff + n, sizeof(o->settings_diff) - n, "%s%s",
				 n ? "," : "", kv[i].key);
		if (w > 0 && (size_t)w < sizeof(o->settings_diff) - n)
			n += (size_t)w;
		o->nsettings_diff++;
	}
	if (o->sync)
		objsync_up(o->sync, clock_mono_ms());
}

void objects_peer_down(struct objects *o)
{
	o->peer_up = false;
	if (o->sync)
		objsync_down(o->sync);
}

void objects_on_frame(struct objects *o, uint8_t type, const uint8_t *payload, uint32_t len)
{
	if (o->sync)
		objsync_on_frame(o->sync, type, payload, len, clock_mono_ms());
}

void objects_writable(struct objects *o)
{
	if (o->sync)
		objsync_pump(o->sync, clock_mono_ms());
}

void objects_show_replication(struct objects *o, struct out *out)
{
	struct objsync_info si;
	uint64_t now = clock_mono_ms();

	out_obj_begin(out, "replication");
	if (!o->sync) {
		out_str(out, "state", "off");
		out_obj_end(out);
		return;
	}
	objsync_info(o->sync, now, &si);
	out_str(out, "state", objsync_state_name(si.state));
	out_u64(out, "revision", si.revision);
	out_u64(out, o->is_master ? "standby_revision" : "master_revision", si.peer_revision);
	if (o->is_master) {
		out_u64(out, "lag_revisions", si.lag_revisions);
		out_u64(out, "lag_ms", si.lag_ms);
		out_u64(out, "last_ack_delay_ms", si.last_ack_delay_ms);
	}
	if (si.snapshot_total || si.state == OBJSYNC_SNAPSHOT ||
	    si.state == OBJSYNC_SNAPSHOT_COMMIT) {
		out_obj_begin(out, "snapshot");
		out_u64(out, "revision", si.snapshot_revision);
		out_u64(out, "objects", si.snapshot_total);
		out_u64(out, "done", si.snapshot_done);
		out_obj_end(out);
	}
	out_u64(out, "last_sync_s", si.last_sync_ms ? (now - si.last_sync_ms) / 1000 : 0);
	out_str(out, "last_error", si.last_error);
	out_str(out, "settings_differ", o->settings_diff);
	out_obj_begin(out, "counters");
#define SHOW_OBJSYNC_COUNTER(name, help) out_u64(out, #name, si.counters.name);
	OBJSYNC_COUNTERS(SHOW_OBJSYNC_COUNTER)
#undef SHOW_OBJSYNC_COUNTER
	out_obj_end(out);
	out_obj_end(out);
}

void objects_metrics(struct objects *o, struct out *out)
{
	static const struct out_prom m_rev = { "objects_revision", OUT_PROM_GAUGE,
		"Revision of the object store" };
	static const struct out_prom m_objs = { "objects", OUT_PROM_GAUGE,
		"Objects stored, per kind" };
	static const struct out_prom m_ports = { "license_ports", OUT_PROM_GAUGE,
		"Port licenses (-1: unlimited)" };
	static const struct out_prom m_standby = { "license_standby", OUT_PROM_GAUGE,
		"Standby licenses" };
	static const struct out_prom m_mismatch = { "users_other_realm", OUT_PROM_GAUGE,
		"Users whose password hashes are for another realm" };
	static const struct out_prom m_lag = { "replication_lag_revisions", OUT_PROM_GAUGE,
		"Changes the standby has not acknowledged yet (master)" };
	static const struct out_prom m_lag_s = { "replication_lag_seconds", OUT_PROM_GAUGE,
		"Age of the oldest change the standby has not acknowledged (master)" };
	static const struct out_prom m_diff = { "pair_settings_differ", OUT_PROM_GAUGE,
		"General settings that differ between the nodes of the pair" };
#define OBJSYNC_PROM(name, help) { "replication_" #name, OUT_PROM_COUNTER, help },
	static const struct out_prom m_sync[] = { OBJSYNC_COUNTERS(OBJSYNC_PROM) };
#undef OBJSYNC_PROM
	struct store_counts c;

	if (store_counts(o->store, &c) == 0) {
		out_prom_metric(out, &m_rev, c.revision);
		out_prom_begin(out, &m_objs);
		struct out_label l = { "kind", "user" };
		out_prom_sample(out, &m_objs, &l, 1, c.users);
		l.value = "license";
		out_prom_sample(out, &m_objs, &l, 1, c.licenses);
		l.value = "setting";
		out_prom_sample(out, &m_objs, &l, 1, c.settings);
		out_prom_end(out, &m_objs);
	}
	out_prom_begin(out, &m_ports);
	out_prom_sample_double(out, &m_ports, NULL, 0,
			       o->lic.ports_set ? (double)o->lic.ports : -1.0);
	out_prom_end(out, &m_ports);
	out_prom_metric(out, &m_standby, o->lic.standby_set ? o->lic.standby : 0);
	out_prom_metric(out, &m_mismatch, o->realm_mismatch);
	if (!o->sync)
		return;
	struct objsync_info si;
	objsync_info(o->sync, clock_mono_ms(), &si);
	out_prom_metric(out, &m_diff, o->nsettings_diff);
	if (o->is_master) {
		out_prom_metric(out, &m_lag, si.lag_revisions);
		out_prom_begin(out, &m_lag_s);
		out_prom_sample_double(out, &m_lag_s, NULL, 0, (double)si.lag_ms / 1000.0);
		out_prom_end(out, &m_lag_s);
	}
	const uint64_t *v = (const uint64_t *)&si.counters;
	for (unsigned i = 0; i < sizeof(m_sync) / sizeof(m_sync[0]); i++)
		out_prom_metric(out, &m_sync[i], v[i]);
}

/* ---------------------------------------------------------------- */
/* Start-up */

/* Master: the general settings as objects, staged when they changed. */
static int record_settings(struct objects *o)
{
	struct setting_kv kv[NSETTINGS];
	struct store_obj objs[NSETTINGS];
	unsigned n = 0;
	char err[256];

	general_settings(o->cfg, kv);
	for (unsigned i = 0; i < NSETTINGS; i++) {
		struct store_obj cur = { .kind = STORE_SETTING };

		snprintf(cur.u.setting.key, sizeof(cur.u.setting.key), "%s", kv[i].key);
		if (store_get(o->store, &cur) == 0 && strcmp(cur.u.setting.value, kv[i].value) == 0)
			continue;
		memset(&objs[n], 0, sizeof(objs[n]));
		objs[n].kind = STORE_SETTING;
		snprintf(objs[n].u.setting.key, sizeof(objs[n].u.setting.key), "%s", kv[i].key);
		snprintf(objs[n].u.setting.value, sizeof(objs[n].u.setting.value), "%s",
			 kv[i].value);
		n++;
	}
	if (!n)
		return 0;
	if (commit_local(o, objs, n, err, sizeof(err)) < 0) {
		log_err("objects", "cannot record the general settings: %s", err);
		return -EIO;
	}
	return 0;
}

/* Master: the [sip] users file, imported at every start (new and changed
 * users only; users not in the file are kept). Runs the import's work
 * right here: nothing is served yet. */
static int import_users_file(struct objects *o)
{
	struct import imp = { .o = o };
	int rc;

	snprintf(imp.path, sizeof(imp.path), "%s", o->cfg->sip.users);
	snprintf(imp.realm, sizeof(imp.realm), "%s", o->realm);
	rc = import_work(&imp);
	users_destroy(imp.table);  /* objects_create builds the table itself */
	if (rc < 0) {
		log_err("config", "[sip] users: %s", imp.err);
		return rc;
	}
	log_info("objects", "users file %s: %" PRIu64 " users, %" PRIu64 " new or changed",
		 imp.path, (uint64_t)atomic_load(&imp.rows), imp.changed);
	return 0;
}

int objects_create(const struct objects_params *p, struct objects **out)
{
	struct objects *o;
	char dir[PATH_MAX + 16], err[STORE_ERR_MAX];
	struct users *table = NULL;
	unsigned mismatch = 0;
	int rc;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->p = *p;
	o->cfg = p->cfg;
	o->is_master = p->cfg->node.mode == NODE_MASTER;
	snprintf(o->realm, sizeof(o->realm), "%s", p->realm);

	snprintf(dir, sizeof(dir), "%s/%s", p->cfg->node.data_dir, OBJECTS_DIR);
	rc = store_open(dir, 0, &o->store, err, sizeof(err));
	if (rc < 0) {
		log_err("objects", "cannot open the object store: %s", err);
		goto fail;
	}
	rc = jobs_create(p->loop, &o->jobs);
	if (rc < 0) {
		log_err("objects", "cannot start the job thread: %s", strerror(-rc));
		goto fail;
	}
	if (o->is_master) {
		rc = record_settings(o);
		if (rc < 0)
			goto fail;
		if (p->cfg->sip.users[0]) {
			rc = import_users_file(o);
			if (rc < 0)
				goto fail;
		}
	} else if (p->cfg->sip.users[0]) {
		log_warn("objects", "[sip] users is ignored on a standby: its users come from the "
			 "master");
	}
	rc = build_table(o->store, o->realm, &table, &mismatch);
	if (rc < 0) {
		log_err("objects", "cannot load the users: %s", tdm_strerror(rc));
		goto fail;
	}
	swap_table(o, table, mismatch);
	load_licenses(o);

	struct store_counts c;
	if (store_counts(o->store, &c) == 0)
		log_info("objects", "%" PRIu64 " users, %" PRIu64 " licenses, revision %" PRIu64
			 " (%s)", c.users, c.licenses, c.revision,
			 o->is_master ? "master" : "as last replicated");
	rc = cli_register(p->cli, object_cmds, sizeof(object_cmds) / sizeof(object_cmds[0]), o);
	if (rc < 0)
		goto fail;
	*out = o;
	return 0;
fail:
	objects_destroy(o);
	return rc < 0 ? rc : -EIO;
}

void objects_destroy(struct objects *o)
{
	if (!o)
		return;
	if (o->sync)
		objsync_down(o->sync);
	jobs_destroy(o->jobs);   /* runs what is queued: aborts, frees */
	objsync_destroy(o->sync);
	if (o->imp && o->imp->state != IMPORT_RUNNING)
		free(o->imp);
	store_close(o->store);
	free(o);
}
