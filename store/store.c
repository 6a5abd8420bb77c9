/* SPDX-License-Identifier: MIT */
/*
 * The object store on LMDB (see store.h).
 *
 * One LMDB environment in data_dir/objects/ with these databases:
 *
 *   meta      "id" -> 16 bytes; "revision" -> u64; "journal_first" -> u64
 *   users     name -> encoded user object (store_obj_encode)
 *   numbers   number -> name (a user's number is unique, and no number
 *             is another user's name: users_find looks a key up as a name,
 *             then as a number, so the two share one key space)
 *   licenses  1 byte (the kind) -> encoded license object
 *   settings  key -> encoded setting object
 *   journal   u64 revision (native integer key) -> encoded change
 *
 * u64 values in meta are stored big-endian. The whole environment is
 * durable at every commit (no MDB_NOSYNC): a crash loses nothing that was
 * reported committed.
 *
 * MDB_NOTLS lets any thread hold read transactions while another writes.
 * The "one writer, never wait" rule of store.h is an atomic flag taken
 * before mdb_txn_begin, so a second writer is refused instead of blocking
 * on LMDB's writer mutex (which would stall the control loop behind an
 * import running on the job thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "err.h"
#include "frame.h"
#include "store.h"

enum {
	DB_META,
	DB_USERS,
	DB_NUMBERS,
	DB_LICENSES,
	DB_SETTINGS,
	DB_JOURNAL,
	DB_COUNT
};

static const char *const db_names[DB_COUNT] = {
	[DB_META] = "meta",
	[DB_USERS] = "users",
	[DB_NUMBERS] = "numbers",
	[DB_LICENSES] = "licenses",
	[DB_SETTINGS] = "settings",
	[DB_JOURNAL] = "journal",
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	atomic_bool writing;          /* a write transaction is open */
	uint64_t journal_max;
	char path[4096];
};

enum txn_mode { TXN_LOCAL, TXN_APPLY, TXN_SNAPSHOT };

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	enum txn_mode mode;
	bool failed;                  /* a stage failed: abort only */
	uint64_t revision;            /* last revision given or applied */
	uint64_t journal_first;
	uint64_t staged;
};

struct store_read {
	struct store *s;
	MDB_txn *txn;
	MDB_cursor *cur;
	int db;                       /* DB_USERS .. DB_SETTINGS, then done */
	bool started;
};

/* ---------------------------------------------------------------- */
/* Names */

const char *store_kind_name(enum store_kind k)
{
	switch (k) {
	case STORE_USER:
		return "user";
	case STORE_LICENSE:
		return "license";
	case STORE_SETTING:
		return "setting";
	}
	return "?";
}

const char *store_license_name(enum store_license k)
{
	switch (k) {
	case STORE_LIC_PORTS:
		return "ports";
	case STORE_LIC_STANDBY:
		return "standby";
	}
	return "?";
}

bool store_license_parse(const char *name, enum store_license *out)
{
	if (strcmp(name, "ports") == 0)
		*out = STORE_LIC_PORTS;
	else if (strcmp(name, "standby") == 0)
		*out = STORE_LIC_STANDBY;
	else
		return false;
	return true;
}

void store_id_hex(const uint8_t id[STORE_ID_LEN], char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (unsigned i = 0; i < STORE_ID_LEN; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[2 * STORE_ID_LEN] = '\0';
}

/* LMDB's errors as ours: the few an operator can act on get errno values. */
static int mdb_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -ENOSPC;
	case MDB_NOTFOUND:
		return TDM_ENOTFOUND;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EILSEQ;
	case MDB_READERS_FULL:
		return -EAGAIN;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* ---------------------------------------------------------------- */
/* Validation */

static bool cstr_ok(const char *s, size_t cap, bool allow_empty)
{
	size_t n = strnlen(s, cap);

	if (n == cap || (!allow_empty && n == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool chars_in(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-"
#define NUMBER_CHARS "0123456789+*#"
#define KEY_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_."

const char *store_obj_valid(const struct store_obj *o)
{
	switch (o->kind) {
	case STORE_USER: {
		const struct store_user *u = &o->u.user;

		if (!cstr_ok(u->name, sizeof(u->name), false) || !chars_in(u->name, NAME_CHARS) ||
		    u->name[0] == '_')
			return "user name: 1 to 63 of A-Z a-z 0-9 . _ + -, not starting with '_'";
		if (o->deleted)
			return NULL;
		if (!cstr_ok(u->number, sizeof(u->number), true) ||
		    !chars_in(u->number, NUMBER_CHARS))
			return "number: up to 31 of 0-9 + * #";
		if (!cstr_ok(u->domain, sizeof(u->domain), true))
			return "domain: up to 127 printable characters";
		if (!cstr_ok(u->display, sizeof(u->display), true))
			return "display name: up to 127 printable characters";
		if (!cstr_ok(u->realm, sizeof(u->realm), true))
			return "realm: up to 127 printable characters";
		if (u->has_password && !u->realm[0])
			return "password hashes without a realm";
		if (u->max_contacts > 100000)
			return "max_contacts: at most 100000";
		return NULL;
	}
	case STORE_LICENSE:
		if (o->u.license.kind != STORE_LIC_PORTS && o->u.license.kind != STORE_LIC_STANDBY)
			return "unknown license kind";
		return NULL;
	case STORE_SETTING:
		if (!cstr_ok(o->u.setting.key, sizeof(o->u.setting.key), false) ||
		    !chars_in(o->u.setting.key, KEY_CHARS))
			return "setting key: 1 to 63 of a-z 0-9 _ .";
		if (!o->deleted && !cstr_ok(o->u.setting.value, sizeof(o->u.setting.value), true))
			return "setting value: up to 255 printable characters";
		return NULL;
	}
	return "unknown object kind";
}

/* ---------------------------------------------------------------- */
/* Encoding (docs/replication-protocol.md, "Objects") */

#define OBJ_FLAG_DELETED 0x01
#define USER_FLAG_PASSWORD 0x01
#define USER_FLAG_ENABLED 0x02

int store_obj_encode(const struct store_obj *o, uint8_t *buf, size_t cap)
{
	struct fwr w;

	if (store_obj_valid(o))
		return TDM_EMALFORMED;
	fwr_init(&w, buf, cap);
	fwr_u8(&w, (uint8_t)o->kind);
	fwr_u8(&w, o->deleted ? OBJ_FLAG_DELETED : 0);
	switch (o->kind) {
	case STORE_USER: {
		const struct store_user *u = &o->u.user;

		fwr_str(&w, tstr_cstr(u->name));
		if (o->deleted)
			break;
		fwr_str(&w, tstr_cstr(u->number));
		fwr_str(&w, tstr_cstr(u->domain));
		fwr_str(&w, tstr_cstr(u->display));
		fwr_str(&w, tstr_cstr(u->realm));
		fwr_u8(&w, (uint8_t)((u->has_password ? USER_FLAG_PASSWORD : 0) |
				     (u->enabled ? USER_FLAG_ENABLED : 0)));
		fwr_u32(&w, u->max_contacts);
		if (u->has_password) {
			fwr_bytes(&w, u->ha1_md5, sizeof(u->ha1_md5));
			fwr_bytes(&w, u->ha1_sha256, sizeof(u->ha1_sha256));
		}
		break;
	}
	case STORE_LICENSE:
		fwr_u8(&w, (uint8_t)o->u.license.kind);
		if (!o->deleted)
			fwr_u32(&w, o->u.license.count);
		break;
	case STORE_SETTING:
		fwr_str(&w, tstr_cstr(o->u.setting.key));
		if (!o->deleted)
			fwr_str(&w, tstr_cstr(o->u.setting.value));
		break;
	}
	if (w.overflow)
		return TDM_ENOSPACE;
	return (int)fwr_len(&w);
}

/* A str field into a fixed array: at most cap - 1 bytes, no NUL inside. */
static bool get_str(struct frd *r, char *out, size_t cap, const char *what,
		    char *err, size_t errcap)
{
	bool too_long = false;
	tstr v;

	if (!frd_str(r, (uint16_t)(cap - 1), &v, &too_long)) {
		tdm_errf(err, errcap, "%s: %s", what, too_long ? "too long" : "truncated");
		return false;
	}
	if (memchr(v.s, '\0', v.len)) {
		tdm_errf(err, errcap, "%s: holds a NUL byte", what);
		return false;
	}
	memcpy(out, v.s, v.len);
	out[v.len] = '\0';
	return true;
}

int store_obj_decode(const uint8_t *buf, size_t len, struct store_obj *o,
		     char *err, size_t errcap)
{
	struct frd r;
	uint8_t kind, flags, uf;
	const uint8_t *p;
	const char *bad;

	memset(o, 0, sizeof(*o));
	frd_init(&r, buf, len);
	if (!frd_u8(&r, &kind) || !frd_u8(&r, &flags)) {
		tdm_errf(err, errcap, "object: truncated header");
		return TDM_EMALFORMED;
	}
	if (kind < STORE_USER || kind > STORE_KIND_MAX) {
		tdm_errf(err, errcap, "object: unknown kind %u", kind);
		return TDM_EMALFORMED;
	}
	if (flags & ~OBJ_FLAG_DELETED) {
		tdm_errf(err, errcap, "object: reserved flags 0x%02x", flags);
		return TDM_EMALFORMED;
	}
	o->kind = (enum store_kind)kind;
	o->deleted = flags & OBJ_FLAG_DELETED;
	switch (o->kind) {
	case STORE_USER: {
		struct store_user *u = &o->u.user;

		if (!get_str(&r, u->name, sizeof(u->name), "user name", err, errcap))
			return TDM_EMALFORMED;
		if (o->deleted)
			break;
		if (!get_str(&r, u->number, sizeof(u->number), "user number", err, errcap) ||
		    !get_str(&r, u->domain, sizeof(u->domain), "user domain", err, errcap) ||
		    !get_str(&r, u->display, sizeof(u->display), "user display", err, errcap) ||
		    !get_str(&r, u->realm, sizeof(u->realm), "user realm", err, errcap))
			return TDM_EMALFORMED;
		if (!frd_u8(&r, &uf) || !frd_u32(&r, &u->max_contacts)) {
			tdm_errf(err, errcap, "user '%s': truncated", u->name);
			return TDM_EMALFORMED;
		}
		if (uf & ~(USER_FLAG_PASSWORD | USER_FLAG_ENABLED)) {
			tdm_errf(err, errcap, "user '%s': reserved flags 0x%02x", u->name, uf);
			return TDM_EMALFORMED;
		}
		u->has_password = uf & USER_FLAG_PASSWORD;
		u->enabled = uf & USER_FLAG_ENABLED;
		if (u->has_password) {
			if (!frd_bytes(&r, sizeof(u->ha1_md5), &p)) {
				tdm_errf(err, errcap, "user '%s': truncated HA1", u->name);
				return TDM_EMALFORMED;
			}
			memcpy(u->ha1_md5, p, sizeof(u->ha1_md5));
			if (!frd_bytes(&r, sizeof(u->ha1_sha256), &p)) {
				tdm_errf(err, errcap, "user '%s': truncated HA1", u->name);
				return TDM_EMALFORMED;
			}
			memcpy(u->ha1_sha256, p, sizeof(u->ha1_sha256));
		}
		break;
	}
	case STORE_LICENSE: {
		uint8_t lk;

		if (!frd_u8(&r, &lk) || (!o->deleted && !frd_u32(&r, &o->u.license.count))) {
			tdm_errf(err, errcap, "license: truncated");
			return TDM_EMALFORMED;
		}
		o->u.license.kind = (enum store_license)lk;
		break;
	}
	case STORE_SETTING:
		if (!get_str(&r, o->u.setting.key, sizeof(o->u.setting.key), "setting key", err,
			     errcap))
			return TDM_EMALFORMED;
		if (!o->deleted && !get_str(&r, o->u.setting.value, sizeof(o->u.setting.value),
					    "setting value", err, errcap))
			return TDM_EMALFORMED;
		break;
	}
	if (frd_left(&r)) {
		tdm_errf(err, errcap, "%s: %zu bytes after the last field",
			store_kind_name(o->kind), frd_left(&r));
		return TDM_EMALFORMED;
	}
	bad = store_obj_valid(o);
	if (bad) {
		tdm_errf(err, errcap, "%s: %s", store_kind_name(o->kind), bad);
		return TDM_EMALFORMED;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Keys */

/* The key of an object in its database; the key bytes live in o or kbuf. */
static int obj_db_key(const struct store_obj *o, MDB_val *key, uint8_t *kbuf)
{
	switch (o->kind) {
	case STORE_USER:
		key->mv_data = (void *)o->u.user.name;
		key->mv_size = strlen(o->u.user.name);
		return DB_USERS;
	case STORE_LICENSE:
		kbuf[0] = (uint8_t)o->u.license.kind;
		key->mv_data = kbuf;
		key->mv_size = 1;
		return DB_LICENSES;
	case STORE_SETTING:
		key->mv_data = (void *)o->u.setting.key;
		key->mv_size = strlen(o->u.setting.key);
		return DB_SETTINGS;
	}
	return -1;
}

static void be64_put(uint8_t b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t b[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static int meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	int rc = mdb_get(txn, dbi, &k, &v);

	*out = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return mdb_err(rc);
	if (v.mv_size != 8)
		return -EILSEQ;
	*out = be64_get(v.mv_data);
	return 0;
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t val)
{
	uint8_t b[8];
	MDB_val k = { strlen(name), (void *)name }, v = { 8, b };

	be64_put(b, val);
	return mdb_err(mdb_put(txn, dbi, &k, &v, 0));
}

/* ---------------------------------------------------------------- */
/* Open / close */

int store_open(const char *dir, size_t map_size, struct store **out, char *err, size_t errcap)
{
	struct store *s;
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, dead;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", dir);
	atomic_init(&s->writing, false);
	s->journal_max = STORE_JOURNAL_MAX;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		tdm_errf(err, errcap, "%s: cannot create: %s", dir, strerror(errno));
		free(s);
		return rc;
	}
	rc = mdb_env_create(&s->env);
	if (rc)
		goto lmdb_fail;
	mdb_env_set_maxdbs(s->env, DB_COUNT);
	rc = mdb_env_set_mapsize(s->env, map_size ? map_size : STORE_DEFAULT_MAP_SIZE);
	if (rc)
		goto lmdb_fail;
	rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0640);
	if (rc)
		goto lmdb_fail;
	/* Reader slots left by a process that died. */
	mdb_reader_check(s->env, &dead);

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto lmdb_fail;
	for (unsigned i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i],
				  MDB_CREATE | (i == DB_JOURNAL ? MDB_INTEGERKEY : 0), &s->dbi[i]);
		if (rc)
			goto lmdb_fail;
	}
	k.mv_data = "id";
	k.mv_size = 2;
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		uint8_t id[STORE_ID_LEN];

		if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
			rc = errno ? errno : EIO;
			goto lmdb_fail;
		}
		v.mv_data = id;
		v.mv_size = sizeof(id);
		rc = mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
	} else if (rc == 0 && v.mv_size != STORE_ID_LEN) {
		rc = MDB_CORRUPTED;
	}
	if (rc)
		goto lmdb_fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto lmdb_fail;
	*out = s;
	return 0;

lmdb_fail:
	tdm_errf(err, errcap, "%s: %s", dir, mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	if (s->env)
		mdb_env_close(s->env);
	free(s);
	return mdb_err(rc) ? mdb_err(rc) : -EIO;
}

void store_set_journal_max(struct store *s, uint64_t n)
{
	s->journal_max = n ? n : 1;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s);
}

/* ---------------------------------------------------------------- */
/* Reading */

static int read_begin(struct store *s, MDB_txn **txn)
{
	return mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn));
}

int store_counts(struct store *s, struct store_counts *out)
{
	MDB_txn *txn;
	MDB_stat st;
	MDB_val k = { 2, "id" }, v;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = read_begin(s, &txn);
	if (rc < 0)
		return rc;
	if (mdb_stat(txn, s->dbi[DB_USERS], &st) == 0)
		out->users = st.ms_entries;
	if (mdb_stat(txn, s->dbi[DB_LICENSES], &st) == 0)
		out->licenses = st.ms_entries;
	if (mdb_stat(txn, s->dbi[DB_SETTINGS], &st) == 0)
		out->settings = st.ms_entries;
	if (mdb_stat(txn, s->dbi[DB_JOURNAL], &st) == 0)
		out->journal_len = st.ms_entries;
	meta_get_u64(txn, s->dbi[DB_META], "revision", &out->revision);
	meta_get_u64(txn, s->dbi[DB_META], "journal_first", &out->journal_first);
	if (mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == STORE_ID_LEN)
		memcpy(out->id, v.mv_data, STORE_ID_LEN);

	MDB_envinfo ei;
	if (mdb_env_info(s->env, &ei) == 0 && mdb_env_stat(s->env, &st) == 0)
		out->db_bytes = (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize;
	mdb_txn_abort(txn);
	return 0;
}

static int get_in(struct store *s, MDB_txn *txn, struct store_obj *o)
{
	uint8_t kbuf[1];
	MDB_val k, v;
	enum store_kind kind = o->kind;
	int db = obj_db_key(o, &k, kbuf), rc;

	if (db < 0 || k.mv_size == 0)
		return TDM_ENOTFOUND;
	rc = mdb_get(txn, s->dbi[db], &k, &v);
	if (rc)
		return mdb_err(rc);
	rc = store_obj_decode(v.mv_data, v.mv_size, o, NULL, 0);
	if (rc == 0 && o->kind != kind)
		rc = TDM_EMALFORMED;
	return rc < 0 ? -EILSEQ : 0;
}

int store_get(struct store *s, struct store_obj *o)
{
	MDB_txn *txn;
	int rc = read_begin(s, &txn);

	if (rc < 0)
		return rc;
	rc = get_in(s, txn, o);
	mdb_txn_abort(txn);
	return rc;
}

int store_find_user(struct store *s, const char *key, struct store_user *out)
{
	struct store_obj o = { .kind = STORE_USER };
	MDB_txn *txn;
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc;

	if (k.mv_size == 0 || k.mv_size >= USER_NAME_MAX)
		return TDM_ENOTFOUND;
	rc = read_begin(s, &txn);
	if (rc < 0)
		return rc;
	memcpy(o.u.user.name, key, k.mv_size + 1);
	rc = get_in(s, txn, &o);
	if (rc == TDM_ENOTFOUND && mdb_get(txn, s->dbi[DB_NUMBERS], &k, &v) == 0 &&
	    v.mv_size < USER_NAME_MAX) {
		memset(&o, 0, sizeof(o));
		o.kind = STORE_USER;
		memcpy(o.u.user.name, v.mv_data, v.mv_size);
		rc = get_in(s, txn, &o);
	}
	mdb_txn_abort(txn);
	if (rc == 0)
		*out = o.u.user;
	return rc;
}

static int foreach_db(struct store *s, MDB_txn *txn, int db,
		      int (*cb)(const struct store_obj *obj, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct store_obj o;
	int rc, out = 0, op = MDB_FIRST;

	rc = mdb_cursor_open(txn, s->dbi[db], &cur);
	if (rc)
		return mdb_err(rc);
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (store_obj_decode(v.mv_data, v.mv_size, &o, NULL, 0) < 0) {
			out = -EILSEQ;
			break;
		}
		out = cb(&o, arg);
		if (out)
			break;
	}
	mdb_cursor_close(cur);
	if (out)
		return out;
	return rc == MDB_NOTFOUND ? 0 : mdb_err(rc);
}

int store_foreach(struct store *s, enum store_kind kind,
		  int (*cb)(const struct store_obj *obj, void *arg), void *arg)
{
	static const int dbs[] = { DB_USERS, DB_LICENSES, DB_SETTINGS };
	MDB_txn *txn;
	int rc = read_begin(s, &txn);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < 3 && rc == 0; i++)
		if (kind == 0 || (int)kind == (int)(i + 1))
			rc = foreach_db(s, txn, dbs[i], cb, arg);
	mdb_txn_abort(txn);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Write transactions */

static int txn_begin(struct store *s, enum txn_mode mode, struct store_txn **out)
{
	struct store_txn *t;
	bool expected = false;
	int rc;

	*out = NULL;
	if (!atomic_compare_exchange_strong(&s->writing, &expected, true))
		return -EBUSY;
	t = calloc(1, sizeof(*t));
	if (!t) {
		atomic_store(&s->writing, false);
		return -ENOMEM;
	}
	t->s = s;
	t->mode = mode;
	rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
	if (rc == 0)
		rc = -meta_get_u64(t->txn, s->dbi[DB_META], "revision", &t->revision);
	if (rc == 0)
		rc = -meta_get_u64(t->txn, s->dbi[DB_META], "journal_first", &t->journal_first);
	if (rc) {
		if (t->txn)
			mdb_txn_abort(t->txn);
		free(t);
		atomic_store(&s->writing, false);
		return rc > 0 ? mdb_err(rc) : rc;
	}
	*out = t;
	return 0;
}

int store_begin(struct store *s, struct store_txn **out)
{
	return txn_begin(s, TXN_LOCAL, out);
}

int store_begin_apply(struct store *s, struct store_txn **out)
{
	return txn_begin(s, TXN_APPLY, out);
}

uint64_t store_txn_staged(const struct store_txn *t)
{
	return t->staged;
}

/* Is key (a name or a number) taken by a user other than `name`? */
static int key_taken(struct store_txn *t, const char *key, const char *name)
{
	struct store *s = t->s;
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc;

	if (!k.mv_size)
		return 0;
	/* As another user's name. */
	if (strcmp(key, name) != 0) {
		rc = mdb_get(t->txn, s->dbi[DB_USERS], &k, &v);
		if (rc == 0)
			return TDM_EEXISTS;
		if (rc != MDB_NOTFOUND)
			return mdb_err(rc);
	}
	/* As another user's number. */
	rc = mdb_get(t->txn, s->dbi[DB_NUMBERS], &k, &v);
	if (rc == 0)
		return v.mv_size == strlen(name) && memcmp(v.mv_data, name, v.mv_size) == 0
			       ? 0
			       : TDM_EEXISTS;
	return rc == MDB_NOTFOUND ? 0 : mdb_err(rc);
}

/*
 * Put or delete obj in its database (and the numbers index), without the
 * journal. strict: a deletion of what is missing is TDM_ENOTFOUND and
 * name/number clashes are TDM_EEXISTS; otherwise (the master's changes,
 * already checked there) they are applied as they come.
 */
static int write_obj(struct store_txn *t, const struct store_obj *o, bool strict)
{
	struct store *s = t->s;
	uint8_t kbuf[1], enc[STORE_OBJ_MAX];
	MDB_val k, v;
	struct store_obj old = *o;   /* its key fields find the previous version */
	bool had_old;
	int db, rc, len;

	db = obj_db_key(o, &k, kbuf);
	if (db < 0)
		return TDM_EMALFORMED;

	/* The previous version (for the numbers index, and whether a
	 * deletion deletes anything). */
	rc = get_in(s, t->txn, &old);
	if (rc < 0 && rc != TDM_ENOTFOUND)
		return rc;
	had_old = rc == 0;

	if (o->deleted) {
		if (!had_old)
			return strict ? TDM_ENOTFOUND : 0;
		rc = mdb_del(t->txn, s->dbi[db], &k, NULL);
		if (rc)
			return mdb_err(rc);
	} else {
		if (o->kind == STORE_USER && strict) {
			rc = key_taken(t, o->u.user.name, o->u.user.name);
			if (rc == 0)
				rc = key_taken(t, o->u.user.number, o->u.user.name);
			if (rc < 0)
				return rc;
		}
		len = store_obj_encode(o, enc, sizeof(enc));
		if (len < 0)
			return len;
		v.mv_data = enc;
		v.mv_size = (size_t)len;
		rc = mdb_put(t->txn, s->dbi[db], &k, &v, 0);
		if (rc)
			return mdb_err(rc);
	}

	if (o->kind != STORE_USER)
		return 0;
	const char *oldnum = had_old ? old.u.user.number : "";
	const char *newnum = o->deleted ? "" : o->u.user.number;
	if (strcmp(oldnum, newnum) == 0)
		return 0;
	if (*oldnum) {
		MDB_val nk = { strlen(oldnum), (void *)oldnum }, nv;
		/* Only drop the index entry if it still points at this user
		 * (the master's order of changes may have handed it on). */
		if (mdb_get(t->txn, s->dbi[DB_NUMBERS], &nk, &nv) == 0 &&
		    nv.mv_size == strlen(o->u.user.name) &&
		    memcmp(nv.mv_data, o->u.user.name, nv.mv_size) == 0) {
			rc = mdb_del(t->txn, s->dbi[DB_NUMBERS], &nk, NULL);
			if (rc)
				return mdb_err(rc);
		}
	}
	if (*newnum) {
		MDB_val nk = { strlen(newnum), (void *)newnum };
		MDB_val nv = { strlen(o->u.user.name), (void *)o->u.user.name };
		rc = mdb_put(t->txn, s->dbi[DB_NUMBERS], &nk, &nv, 0);
		if (rc)
			return mdb_err(rc);
	}
	return 0;
}

static int journal_put(struct store_txn *t, const struct store_obj *o, uint64_t rev)
{
	uint8_t enc[STORE_OBJ_MAX];
	size_t key = (size_t)rev;
	MDB_val k = { sizeof(key), &key }, v;
	int len = store_obj_encode(o, enc, sizeof(enc));

	_Static_assert(sizeof(size_t) == 8, "journal keys are 64-bit native integers");
	if (len < 0)
		return len;
	v.mv_data = enc;
	v.mv_size = (size_t)len;
	return mdb_err(mdb_put(t->txn, t->s->dbi[DB_JOURNAL], &k, &v, MDB_APPEND));
}

static int stage(struct store_txn *t, const struct store_obj *o, uint64_t rev, bool strict)
{
	int rc;

	if (t->failed)
		return -ECANCELED;
	if (store_obj_valid(o))
		return TDM_EMALFORMED;
	rc = write_obj(t, o, strict);
	if (rc == 0)
		rc = journal_put(t, o, rev);
	if (rc < 0) {
		/* A clash or a missing object leaves LMDB's transaction as it
		 * was (nothing was written for this change); anything else may
		 * have written half of it. */
		if (rc != TDM_EEXISTS && rc != TDM_ENOTFOUND)
			t->failed = true;
		return rc;
	}
	t->revision = rev;
	if (!t->journal_first)
		t->journal_first = rev;
	t->staged++;
	return 0;
}

int64_t store_stage(struct store_txn *t, const struct store_obj *o)
{
	int rc;

	if (t->mode != TXN_LOCAL)
		return -EINVAL;
	rc = stage(t, o, t->revision + 1, true);
	return rc < 0 ? rc : (int64_t)t->revision;
}

int store_stage_rev(struct store_txn *t, const struct store_obj *o, uint64_t rev)
{
	if (t->mode != TXN_APPLY)
		return -EINVAL;
	if (rev <= t->revision)
		return TDM_EPROTO;
	return stage(t, o, rev, false);
}

/* Keep the last journal_max changes. */
static int journal_trim(struct store_txn *t)
{
	struct store *s = t->s;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t keep_from;
	int rc;

	if (t->revision < s->journal_max || !t->journal_first)
		return 0;
	keep_from = t->revision - s->journal_max + 1;
	if (t->journal_first >= keep_from)
		return 0;
	rc = mdb_cursor_open(t->txn, s->dbi[DB_JOURNAL], &cur);
	if (rc)
		return mdb_err(rc);
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		size_t rev;

		memcpy(&rev, k.mv_data, sizeof(rev));
		if (rev >= keep_from)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return mdb_err(rc);
	t->journal_first = keep_from;
	return 0;
}

static void txn_free(struct store_txn *t)
{
	atomic_store(&t->s->writing, false);
	free(t);
}

int64_t store_commit(struct store_txn *t)
{
	struct store *s = t->s;
	int64_t out;
	int rc;

	if (t->failed || t->mode == TXN_SNAPSHOT) {
		store_abort(t);
		return -ECANCELED;
	}
	if (t->staged == 0) {
		out = (int64_t)t->revision;
		store_abort(t);
		return out;
	}
	rc = journal_trim(t);
	if (rc == 0)
		rc = meta_put_u64(t->txn, s->dbi[DB_META], "revision", t->revision);
	if (rc == 0)
		rc = meta_put_u64(t->txn, s->dbi[DB_META], "journal_first", t->journal_first);
	if (rc < 0) {
		store_abort(t);
		return rc;
	}
	rc = mdb_txn_commit(t->txn);
	out = (int64_t)t->revision;
	txn_free(t);
	return rc ? mdb_err(rc) : out;
}

void store_abort(struct store_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	txn_free(t);
}

/* ---------------------------------------------------------------- */
/* Snapshots */

int store_snapshot_begin(struct store *s, struct store_txn **out)
{
	int rc = txn_begin(s, TXN_SNAPSHOT, out);

	if (rc < 0)
		return rc;
	/* Empty every object database and the journal, inside the
	 * transaction: nobody sees it until the commit. */
	for (int db = DB_USERS; db < DB_COUNT; db++) {
		rc = mdb_drop((*out)->txn, s->dbi[db], 0);
		if (rc) {
			store_abort(*out);
			*out = NULL;
			return mdb_err(rc);
		}
	}
	return 0;
}

int store_snapshot_add(struct store_txn *t, const struct store_obj *o)
{
	struct store *s = t->s;
	uint8_t kbuf[1], enc[STORE_OBJ_MAX];
	MDB_val k, v;
	int db, len, rc;

	if (t->mode != TXN_SNAPSHOT || t->failed)
		return -EINVAL;
	if (o->deleted || store_obj_valid(o))
		return TDM_EMALFORMED;
	db = obj_db_key(o, &k, kbuf);
	len = store_obj_encode(o, enc, sizeof(enc));
	if (len < 0)
		return len;
	v.mv_data = enc;
	v.mv_size = (size_t)len;
	rc = mdb_put(t->txn, s->dbi[db], &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return TDM_EPROTO;
	if (rc == 0 && o->kind == STORE_USER && o->u.user.number[0]) {
		MDB_val nk = { strlen(o->u.user.number), (void *)o->u.user.number };
		MDB_val nv = { strlen(o->u.user.name), (void *)o->u.user.name };
		rc = mdb_put(t->txn, s->dbi[DB_NUMBERS], &nk, &nv, 0);
	}
	if (rc) {
		t->failed = true;
		return mdb_err(rc);
	}
	t->staged++;
	return 0;
}

int store_snapshot_commit(struct store_txn *t, const uint8_t id[STORE_ID_LEN], uint64_t rev)
{
	struct store *s = t->s;
	MDB_val k = { 2, "id" }, v = { STORE_ID_LEN, (void *)id };
	int rc;

	if (t->mode != TXN_SNAPSHOT || t->failed) {
		store_abort(t);
		return -ECANCELED;
	}
	rc = mdb_put(t->txn, s->dbi[DB_META], &k, &v, 0);
	if (rc == 0)
		rc = -meta_put_u64(t->txn, s->dbi[DB_META], "revision", rev);
	if (rc == 0)
		rc = -meta_put_u64(t->txn, s->dbi[DB_META], "journal_first", 0);
	if (rc) {
		store_abort(t);
		return rc > 0 ? mdb_err(rc) : rc;
	}
	rc = mdb_txn_commit(t->txn);
	txn_free(t);
	return mdb_err(rc);
}

/* ---------------------------------------------------------------- */
/* Replication reads */

int64_t store_changes_since(struct store *s, uint64_t since, uint64_t max,
			    int (*cb)(uint64_t revision, const struct store_obj *obj, void *arg),
			    void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t rev_now, first;
	size_t key = (size_t)(since + 1);
	struct store_obj o;
	int64_t n = 0;
	int cb_err = 0;
	int rc = read_begin(s, &txn);

	if (rc < 0)
		return rc;
	meta_get_u64(txn, s->dbi[DB_META], "revision", &rev_now);
	meta_get_u64(txn, s->dbi[DB_META], "journal_first", &first);
	if (since >= rev_now) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (!first || since + 1 < first) {
		mdb_txn_abort(txn);
		return TDM_ENOTFOUND;
	}
	rc = mdb_cursor_open(txn, s->dbi[DB_JOURNAL], &cur);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_err(rc);
	}
	k.mv_data = &key;
	k.mv_size = sizeof(key);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && (!max || (uint64_t)n < max)) {
		size_t rev;

		memcpy(&rev, k.mv_data, sizeof(rev));
		if (store_obj_decode(v.mv_data, v.mv_size, &o, NULL, 0) < 0) {
			rc = -EILSEQ;
			break;
		}
		rc = cb(rev, &o, arg);
		if (rc > 0) {
			rc = 0;   /* the callback has enough */
			break;
		}
		if (rc < 0) {
			cb_err = rc;
			break;
		}
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (cb_err)
		return cb_err;
	if (rc == MDB_NOTFOUND || rc == 0)
		return n;
	return rc == -EILSEQ ? rc : mdb_err(rc);
}

int store_read_open(struct store *s, struct store_read **out, uint64_t *revision,
		    uint64_t *count, uint8_t id[STORE_ID_LEN])
{
	struct store_read *r = calloc(1, sizeof(*r));
	MDB_val k = { 2, "id" }, v;
	MDB_stat st;
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->db = DB_USERS;
	rc = read_begin(s, &r->txn);
	if (rc < 0) {
		free(r);
		return rc;
	}
	meta_get_u64(r->txn, s->dbi[DB_META], "revision", revision);
	*count = 0;
	for (int db = DB_USERS; db <= DB_SETTINGS; db++) {
		if (db == DB_NUMBERS)
			continue;
		if (mdb_stat(r->txn, s->dbi[db], &st) == 0)
			*count += st.ms_entries;
	}
	memset(id, 0, STORE_ID_LEN);
	if (mdb_get(r->txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == STORE_ID_LEN)
		memcpy(id, v.mv_data, STORE_ID_LEN);
	*out = r;
	return 0;
}

int store_read_next(struct store_read *r, struct store_obj *o)
{
	MDB_val k, v;
	int rc;

	while (r->db <= DB_SETTINGS) {
		if (!r->cur) {
			rc = mdb_cursor_open(r->txn, r->s->dbi[r->db], &r->cur);
			if (rc)
				return mdb_err(rc);
			r->started = false;
		}
		rc = mdb_cursor_get(r->cur, &k, &v, r->started ? MDB_NEXT : MDB_FIRST);
		r->started = true;
		if (rc == 0) {
			if (store_obj_decode(v.mv_data, v.mv_size, o, NULL, 0) < 0)
				return -EILSEQ;
			return 1;
		}
		if (rc != MDB_NOTFOUND)
			return mdb_err(rc);
		mdb_cursor_close(r->cur);
		r->cur = NULL;
		r->db = r->db == DB_USERS ? DB_LICENSES : r->db + 1;
	}
	return 0;
}

void store_read_close(struct store_read *r)
{
	if (!r)
		return;
	if (r->cur)
		mdb_cursor_close(r->cur);
	mdb_txn_abort(r->txn);
	free(r);
}
