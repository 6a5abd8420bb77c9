/* SPDX-License-Identifier: MIT */
/*
 * The users table: the user objects the registrar authenticates and the
 * redirect server knows, looked up by name or by number.
 *
 * Two liburcu cds_lfht indexes (by name, by number) over immutable user
 * records. Only the control thread writes: users_put() publishes a new
 * record in place of the old one with the same name and retires the old one
 * with call_rcu. Workers read (users_find) inside their QSBR read side.
 * Whole-set replacement (a replicated snapshot) builds a second table and
 * publishes the pointer to it; see dataplane/pipeline.h.
 *
 * No clear-text password is stored: only the digest HA1 values for the
 * realm in force, for MD5 and SHA-256.
 */
#ifndef TANDEM_USERS_H
#define TANDEM_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "str.h"

#define USER_NAME_MAX 64
#define USER_NUMBER_MAX 32
#define USER_DOMAIN_MAX 128
#define USER_DISPLAY_MAX 128

/*
 * Each index node sits next to the key its match function compares, and
 * users_alloc() aligns the struct to a cache line: a lookup by name loads
 * one line for the node and the name (of up to 47 bytes), one by number
 * one line for the node and the number.
 */
struct user {
	struct cds_lfht_node by_name;     /* offset 0 */
	char name[USER_NAME_MAX];         /* NUL-terminated, non-empty */
	struct cds_lfht_node by_number;   /* offset 80: line 64-127 */
	char number[USER_NUMBER_MAX];     /* may be empty */
	struct rcu_head rcu;
	uint64_t revision;
	char domain[USER_DOMAIN_MAX];     /* may be empty: the node's domain */
	char display[USER_DISPLAY_MAX];
	uint8_t ha1_md5[16];              /* MD5(name:realm:password) */
	uint8_t ha1_sha256[32];           /* SHA-256(name:realm:password) */
	bool has_password;                /* false: cannot authenticate */
	bool enabled;
	uint32_t max_contacts;            /* 0: the node's [sip] max_contacts */
};

struct users;

struct users *users_create(void);
/* Free the table and every user. No reader or writer may be left. Waits
 * for retired users itself (rcu_barrier()); callable from a registered
 * thread (online or offline) or an unregistered one, but not from a
 * call_rcu callback. NULL is a no-op. */
void users_destroy(struct users *u);

/* Read side. A user whose name equals key, else one whose number equals
 * key, else NULL. */
const struct user *users_find(struct users *u, tstr key);

/* Control thread (registered with urcu-qsbr and online; writers are
 * serialised internally). Takes ownership of usr (allocated with
 * users_alloc()). Replaces the user with the same name, or inserts. The
 * number must not belong to another user: TDM_EEXISTS (usr is then freed).
 * An empty name, or a string field without its NUL inside the array:
 * TDM_EMALFORMED (usr is freed). A replaced user is freed after a grace
 * period; a user whose number changed is found by the new number only.
 * When the number of users has outgrown the indexes (or fallen below a
 * quarter of them), users_put() and users_del() resize them and go offline
 * meanwhile (a quiescent state): hold no pointer into any RCU table across
 * these calls. */
int users_put(struct users *u, struct user *usr);

/* Control thread (registered, online; same quiescent-state note as
 * users_put()). Returns 0 or TDM_ENOTFOUND. */
int users_del(struct users *u, tstr name);

/* A zeroed user record for users_put(). NULL on out of memory. */
struct user *users_alloc(void);

uint64_t users_count(struct users *u);

/* The hash the indexes use for key (keyed with the table's random key);
 * for tests. Any thread. */
uint64_t users_key_hash(const struct users *u, tstr key);

/* Read side. Visit every user, stop early on a non-zero return. */
int users_foreach(struct users *u, int (*cb)(const struct user *usr, void *arg),
		  void *arg);

#endif
