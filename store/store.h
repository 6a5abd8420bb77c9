/* SPDX-License-Identifier: MIT */
/*
 * The object store: users, licenses and the general settings of the pair,
 * persisted crash-safely in LMDB under data_dir/objects/.
 *
 * Every committed change gets the next revision number (uint64, starting
 * at 1, never reused). The store keeps a journal of the last
 * STORE_JOURNAL_MAX changes, keyed by revision, so that a standby that
 * reconnects can be sent only what it missed; an older standby gets a full
 * snapshot instead. A store is named by a random 16-byte id made when it is
 * created; a standby adopts its master's id with the first snapshot, so
 * "the same id and a revision the journal still reaches" is the test for
 * sending only the changes.
 *
 * Where changes come from:
 *   - the master's own writes (tandemctl user add, ...): a local
 *     transaction, store_begin() .. store_stage() .. store_commit(), gives
 *     each change the next revision;
 *   - on a standby, the master's changes: store_begin_apply() ..
 *     store_stage_rev() .. store_commit(), with the master's revisions;
 *   - on a standby, the master's snapshot: store_snapshot_begin() ..
 *     store_snapshot_add() .. store_snapshot_commit() replaces everything
 *     in one LMDB transaction: the old set or the new set, never a mix,
 *     also after a crash.
 *
 * An object travels and is journalled in one encoding (store_obj_encode /
 * store_obj_decode, bounds-checked; specified in
 * docs/replication-protocol.md), so the journal, the snapshot stream and
 * the delta stream share one codec.
 *
 * Threads. One write transaction at a time (LMDB's rule): store_begin*()
 * returns -EBUSY while another is open, it never waits. A write transaction
 * is used by the thread that began it, from begin to commit or abort (the
 * control thread for small changes; the store job thread for an import or
 * a snapshot, see control/objects.c). Readers (store_get, store_foreach,
 * store_changes_since, store_counts, store_read_*) may run on any thread
 * at any time, also while a write transaction is open on another thread;
 * they see the last committed state. Nothing here is on a worker's path:
 * the workers read users from the RCU users table (dataplane/users.h),
 * which the node builds from the store.
 *
 * Return convention: 0 (or a count / revision) on success, a negative
 * error (err.h) on failure; functions that can fail for a reason an
 * operator must read also take an error text buffer.
 */
#ifndef TANDEM_STORE_H
#define TANDEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "users.h"

#define STORE_JOURNAL_MAX 100000        /* changes kept for deltas */
#define STORE_ID_LEN 16
#define STORE_SETTING_KEY_MAX 64
#define STORE_SETTING_VALUE_MAX 256
#define STORE_OBJ_MAX 1024              /* largest encoded object */
#define STORE_ERR_MAX 256
/* Default LMDB map size: the most the database may grow to. Address space
 * only; the file grows with the data (about 500 bytes per user). */
#define STORE_DEFAULT_MAP_SIZE ((size_t)64 << 30)

enum store_kind {
	STORE_USER = 1,
	STORE_LICENSE = 2,
	STORE_SETTING = 3,
};
#define STORE_KIND_MAX STORE_SETTING
const char *store_kind_name(enum store_kind k);

/* License kinds (DESIGN.md §1, docs/objects.md). */
enum store_license {
	STORE_LIC_PORTS = 1,                /* AORs this node may have registered */
	STORE_LIC_STANDBY = 2,              /* ports a standby may serve when it takes over */
};
#define STORE_LIC_MAX STORE_LIC_STANDBY
const char *store_license_name(enum store_license k);
/* "ports" / "standby" -> kind; false when unknown. */
bool store_license_parse(const char *name, enum store_license *out);

/* A user as stored: never a clear-text password, only the HA1 values for
 * the realm they were computed with. */
struct store_user {
	char name[USER_NAME_MAX];
	char number[USER_NUMBER_MAX];
	char domain[USER_DOMAIN_MAX];
	char display[USER_DISPLAY_MAX];
	char realm[USER_DOMAIN_MAX];        /* realm of the HA1 values ("" without) */
	uint8_t ha1_md5[16];
	uint8_t ha1_sha256[32];
	bool has_password;
	bool enabled;
	uint32_t max_contacts;              /* 0: the node's [sip] max_contacts */
};

/* One object, or the deletion of one (deleted = true: only the key
 * fields — user name, license kind, setting key — are meaningful). */
struct store_obj {
	enum store_kind kind;
	bool deleted;
	union {
		struct store_user user;
		struct {
			enum store_license kind;
			uint32_t count;
		} license;
		struct {
			char key[STORE_SETTING_KEY_MAX];
			char value[STORE_SETTING_VALUE_MAX];
		} setting;
	} u;
};

struct store;
struct store_txn;

struct store_counts {
	uint64_t users;
	uint64_t licenses;
	uint64_t settings;
	uint64_t revision;                  /* last committed, 0: none yet */
	uint64_t journal_first;             /* oldest revision in the journal, 0: empty */
	uint64_t journal_len;               /* changes in the journal */
	uint64_t db_bytes;                  /* pages in use */
	uint8_t id[STORE_ID_LEN];
};

/*
 * Open (creating if needed) the store in dir (made if missing). map_size
 * bounds the database (0: STORE_DEFAULT_MAP_SIZE). A new store gets a new
 * random id. Returns 0 or a negative error with a line naming the path
 * and the cause in err.
 */
int store_open(const char *dir, size_t map_size, struct store **out, char *err, size_t errcap);

/* How many changes the journal keeps (default STORE_JOURNAL_MAX; at least
 * 1). Applied at the next commit. Before any transaction. */
void store_set_journal_max(struct store *s, uint64_t n);

/* No transaction may be open. NULL is a no-op. */
void store_close(struct store *s);

/* Returns 0 or a negative error (LMDB could not start a read). */
int store_counts(struct store *s, struct store_counts *out);

/* The id as 32 lower-case hex digits (out: at least 33 bytes). */
void store_id_hex(const uint8_t id[STORE_ID_LEN], char *out);

/* Look up one object by its key (obj->kind and the key field filled in).
 * Returns 0 and fills obj, or TDM_ENOTFOUND. */
int store_get(struct store *s, struct store_obj *obj);

/* A user by name or, failing that, by number. 0 or TDM_ENOTFOUND. */
int store_find_user(struct store *s, const char *key, struct store_user *out);

/* Visit every live object of a kind (0: all kinds) in key order, from a
 * single read snapshot; stops early with the callback's non-zero return,
 * which is returned. */
int store_foreach(struct store *s, enum store_kind kind,
		  int (*cb)(const struct store_obj *obj, void *arg), void *arg);

/* ---- Write transactions ------------------------------------------------- */

/* A local transaction (the master): each staged change gets the next
 * revision. -EBUSY when another write transaction is open. */
int store_begin(struct store *s, struct store_txn **out);

/* A transaction of the master's changes (the standby): each change comes
 * with its revision (store_stage_rev). -EBUSY as above. */
int store_begin_apply(struct store *s, struct store_txn **out);

/*
 * Stage one change of a local transaction: a put (insert or replace) or a
 * deletion. Returns the revision the change will have, or: TDM_ENOTFOUND
 * (deleting what does not exist), TDM_EEXISTS (a user number or name
 * already used as another user's name or number), TDM_EMALFORMED (an
 * invalid object, see store_obj_valid), or an LMDB failure (-ENOSPC when
 * the store is full). After an error the transaction can only be aborted.
 */
int64_t store_stage(struct store_txn *t, const struct store_obj *obj);

/* Stage one of the master's changes with its revision, which must be above
 * every revision so far (else TDM_EPROTO). A deletion of what does not
 * exist is accepted (it is what the master has). Otherwise as store_stage. */
int store_stage_rev(struct store_txn *t, const struct store_obj *obj, uint64_t revision);

/* Changes staged so far. */
uint64_t store_txn_staged(const struct store_txn *t);

/* Commit everything staged, atomically and durably, and free t. Returns
 * the last revision (> 0; the current one when nothing was staged), or a
 * negative error (then nothing changed). */
int64_t store_commit(struct store_txn *t);

/* Drop everything staged and free t. NULL is a no-op. */
void store_abort(struct store_txn *t);

/*
 * Replace everything with a snapshot: begin (-EBUSY as above), add each
 * object (puts only; the same key twice is TDM_EPROTO), then commit with
 * the snapshot's store id and revision. Until the commit, readers (and a
 * crash) see the previous complete set; store_abort() keeps it. The
 * journal starts empty after the snapshot.
 */
int store_snapshot_begin(struct store *s, struct store_txn **out);
int store_snapshot_add(struct store_txn *t, const struct store_obj *obj);
int store_snapshot_commit(struct store_txn *t, const uint8_t id[STORE_ID_LEN],
			  uint64_t revision);

/* ---- Reading for replication ---------------------------------------------- */

/*
 * Visit the changes after revision `since`, in order, from one read
 * snapshot, at most `max` of them (0: no limit). The callback returns 0 to
 * go on, > 0 to stop before this change (it has enough), < 0 to stop with
 * that error. Returns the number of changes taken, or TDM_ENOTFOUND when
 * the journal no longer reaches back to since + 1 (a full snapshot is
 * needed), or the callback's error. An obj passed to the callback is valid
 * during the call only.
 */
int64_t store_changes_since(struct store *s, uint64_t since, uint64_t max,
			    int (*cb)(uint64_t revision, const struct store_obj *obj, void *arg),
			    void *arg);

/*
 * A consistent read of every object, for a snapshot sent in pieces: the
 * reader holds one LMDB read transaction, so objects committed after
 * store_read_open() are not seen (they follow as changes after
 * revision). store_read_next() fills obj and returns 1, 0 at the end, or
 * a negative error. Users first, then licenses, then settings.
 */
struct store_read;
int store_read_open(struct store *s, struct store_read **out, uint64_t *revision,
		    uint64_t *count, uint8_t id[STORE_ID_LEN]);
int store_read_next(struct store_read *r, struct store_obj *obj);
void store_read_close(struct store_read *r);

/* ---- Encoding ------------------------------------------------------------- */

/* Encode obj into buf. Returns the length or TDM_ENOSPACE; TDM_EMALFORMED
 * when obj is not valid (store_obj_valid). */
int store_obj_encode(const struct store_obj *obj, uint8_t *buf, size_t cap);

/* Decode one object that fills exactly len bytes. Returns 0 or
 * TDM_EMALFORMED with a line saying which field in err (may be NULL). */
int store_obj_decode(const uint8_t *buf, size_t len, struct store_obj *obj,
		     char *err, size_t errcap);

/* The rules an object must follow to be stored (also checked on every
 * decoded object): a known kind; a user name of 1..63 characters from
 * [A-Za-z0-9._+-], not starting with '_'; a number of digits, '+', '*',
 * '#' (or empty); every string NUL-terminated in its array, printable
 * ASCII; HA1 values only with a realm; a known license kind; a setting key
 * of [a-z0-9_.]. Returns NULL or the problem. */
const char *store_obj_valid(const struct store_obj *obj);

#endif
