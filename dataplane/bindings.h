/* SPDX-License-Identifier: MIT */
/*
 * The bindings table: address-of-record -> contact bindings.
 *
 * A liburcu cds_lfht (QSBR flavour) with one entry per AOR, which points
 * to the AOR's current record. A record is immutable once published: a
 * change builds a new record (copy-on-write) and swings the entry's pointer
 * from the old record to the new one with one compare-and-swap; the old
 * record is freed after a grace period (rec_pool_retire(): call_rcu, or a
 * worker's batches of retired records). Readers therefore see
 * either the whole old set of bindings of an AOR or the whole new one.
 *
 * Concurrent writers of the same AOR (two workers, or a worker and the
 * expiry sweep) are resolved optimistically: bind_publish() fails with
 * TDM_ERACE when the record it was built from is no longer the current one
 * (the compare-and-swap lost), and the writer looks up the current record
 * and rebuilds. No locks.
 *
 * Calling context: every function except create/destroy must be called by
 * a thread registered with urcu-qsbr and online (inside the read side), and
 * any pointer returned stays valid only until the caller's next quiescent
 * state. See docs/architecture.md.
 *
 * Memory per binding is documented in docs/architecture.md.
 */
#ifndef TANDEM_BINDINGS_H
#define TANDEM_BINDINGS_H

#include <stdbool.h>
#include <stdint.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "addr.h"
#include "rec_pool.h"
#include "str.h"

#define BINDING_Q_NONE 0xffffu   /* no q parameter */
#define BINDING_REG_ID_NONE (-1)

/* One contact binding, as stored. Strings live in the record's tail and are
 * reached through the accessors below. */
struct binding {
	uint64_t expires_ms;     /* monotonic deadline (clock_mono_ms) */
	uint64_t registered_ms;  /* monotonic time of the last refresh */
	uint32_t cseq;
	int32_t reg_id;          /* BINDING_REG_ID_NONE when absent */
	uint16_t q;              /* 0..1000, BINDING_Q_NONE when absent */
	uint16_t uri_len;
	uint16_t call_id_len;
	uint16_t instance_len;
	uint16_t path_len;       /* Path header values joined with ", " */
	uint16_t user_agent_len;
	uint32_t uri_off;        /* offsets from the start of the record */
	uint32_t call_id_off;
	uint32_t instance_off;
	uint32_t path_off;
	uint32_t user_agent_off;
	union tdm_addr source;   /* where the REGISTER came from */
};

struct aor_node;   /* the AOR's table entry (bindings.c) */

struct aor_rec {
	struct aor_node *owner;  /* set when published; the entry it hangs on */
	struct rcu_head rcu;
	uint64_t hash;
	uint32_t size;           /* bytes used, header included */
	uint16_t aor_len;
	uint16_t nbind;
	/* struct binding b[nbind], then the AOR, then every binding's strings */
	struct binding b[];
};

static inline tstr aor_rec_key(const struct aor_rec *r)
{
	return tstr_make((const char *)&r->b[r->nbind], r->aor_len);
}

static inline tstr binding_str(const struct aor_rec *r, uint32_t off, uint16_t len)
{
	return tstr_make((const char *)r + off, len);
}

#define binding_uri(r, b) binding_str((r), (b)->uri_off, (b)->uri_len)
#define binding_call_id(r, b) binding_str((r), (b)->call_id_off, (b)->call_id_len)
#define binding_instance(r, b) binding_str((r), (b)->instance_off, (b)->instance_len)
#define binding_path(r, b) binding_str((r), (b)->path_off, (b)->path_len)
#define binding_user_agent(r, b) binding_str((r), (b)->user_agent_off, (b)->user_agent_len)

/* A binding to put into a new record; the strings may point anywhere
 * (into a datagram, into the old record) until aor_rec_build() returns. */
struct binding_src {
	tstr uri;
	tstr call_id;
	tstr instance;
	tstr path;
	tstr user_agent;
	uint64_t expires_ms;
	uint64_t registered_ms;
	uint32_t cseq;
	int32_t reg_id;
	uint16_t q;
	union tdm_addr source;
};

/* Copy a stored binding into a binding_src (strings point into r). */
void binding_to_src(const struct aor_rec *r, const struct binding *b,
		    struct binding_src *out);

struct bind_table;

/* The most bindings one record can hold: the record must fit the largest
 * pool class. */
#define BIND_MAX_PER_REC \
	((REC_POOL_MAX_SIZE - sizeof(struct aor_rec)) / sizeof(struct binding))

struct bind_table_params {
	unsigned initial_buckets;   /* power of two; 0 picks a default */
	const uint8_t *hash_key;    /* 16 bytes of SipHash key; NULL: random */
};

struct bind_table *bind_table_create(const struct bind_table_params *p);

/* Free the table and every record in it. No reader or writer may be left.
 * Every record (those in the table and those retired earlier) is back in
 * its pool when this returns: destroy waits with rcu_barrier() itself, so
 * the pools can be destroyed right after. Callable from any thread that is
 * not a call_rcu callback: registered online (it goes offline for the
 * barrier and comes back), registered offline, or not registered. NULL is
 * a no-op. */
void bind_table_destroy(struct bind_table *t);

/* Keyed hash of a canonical AOR (SipHash-1-3 under the table's random key,
 * so chains cannot be flooded). */
uint64_t bind_hash(const struct bind_table *t, tstr aor);

/* Current record of aor, or NULL. Read side. */
const struct aor_rec *bind_lookup(struct bind_table *t, tstr aor, uint64_t hash);

/*
 * Build an unpublished record in pool (owner thread). Returns NULL when the
 * record would exceed REC_POOL_MAX_SIZE or a string exceeds 65535 bytes
 * (TDM_ETOOMANY) or memory is exhausted (-ENOMEM); *err says which when not
 * NULL. A record holds at least one binding: n == 0, an empty AOR, or a
 * string with a length but no pointer gives TDM_EMALFORMED (an AOR without
 * bindings is deleted, not stored empty). At most BIND_MAX_PER_REC bindings
 * fit in one record.
 */
struct aor_rec *aor_rec_build(struct rec_pool *pool, tstr aor, uint64_t hash,
			      const struct binding_src *b, unsigned n, int *err);

/* Give back a record that was built but never published. */
void aor_rec_discard(struct aor_rec *rec);

/*
 * Make rec the current record of its AOR in place of old:
 *   old == NULL, rec != NULL: insert; TDM_ERACE if a record exists.
 *   old != NULL, rec != NULL: replace; TDM_ERACE if old is no longer current.
 *   old != NULL, rec == NULL: delete; TDM_ERACE if old is no longer current.
 * On success returns 0 and old is retired (freed after a grace period).
 * On TDM_ERACE the caller still owns rec. -EINVAL when both are NULL or
 * rec is not for old's AOR (a different hash or key); the caller still
 * owns rec. An insert allocates the AOR's table entry from rec's pool, so
 * the caller must be that pool's owner (the thread that built rec); it
 * fails with -ENOMEM when the pool cannot grow.
 * "old is current" is decided by the same atomic step that publishes, so
 * of two writers that built from the same old record exactly one wins.
 */
int bind_publish(struct bind_table *t, const struct aor_rec *old, struct aor_rec *rec);

/* Visit every record. Stops early and returns the callback's value when it
 * returns non-zero. Read side; the callback may call bind_publish(). */
int bind_foreach(struct bind_table *t,
		 int (*cb)(const struct aor_rec *rec, void *arg), void *arg);

/* Number of records (AORs). Walks the table: for the control thread. */
uint64_t bind_count(struct bind_table *t);

/*
 * Expiry sweep (control thread): for every record with a binding whose
 * expires_ms <= now_ms, publish a record without those bindings (or delete
 * the record when none is left), retrying on TDM_ERACE. Records are built
 * in pool (the caller's own).
 *
 * A sweep walks the table in steps: bind_sweep_begin(), then
 * bind_sweep_step() until it returns true, then bind_sweep_end(). A step
 * visits up to `records` records in one read-side critical section; between
 * two steps the caller may pass quiescent states and go offline (it holds
 * no pointer: the walk's place is an entry of its own in the table, see
 * bindings.c), so that with a million AORs neither grace periods nor the
 * caller's other duties wait for the whole walk (~0.7 s). Records published
 * during the walk lower the expiry floor themselves (bind_sweep_due()).
 * bind_count() counts that entry while a sweep is between steps.
 *
 * bind_sweep_end() may be called before the walk is done (to abandon it:
 * the floor is then reset so that the next tick sweeps). It returns the
 * number of bindings removed; *aors_removed (if not NULL) gets the number
 * of records deleted. When the walk was whole and the number of records
 * has outgrown the bucket count (or fallen below a quarter of it), it
 * resizes the table, going offline meanwhile (a quiescent state): the
 * caller must hold no pointer into any RCU table across it. The table is
 * only ever resized explicitly (see bindings.c). One sweep at a time per
 * table; a sweep must be ended before the table is destroyed.
 *
 * bind_sweep() is the whole sweep in one step.
 */
struct bind_sweep {   /* the caller's; fields private to bindings.c */
	struct bind_table *t;
	struct rec_pool *pool;
	uint64_t now_ms;
	uint64_t records;              /* records visited */
	uint64_t bindings;             /* bindings removed */
	uint64_t aors;                 /* records deleted */
	uint64_t floor;                /* earliest expiry of what stays */
	struct binding_src *scratch;   /* BIND_MAX_PER_REC entries */
	struct aor_node *marker;       /* the walk's place between steps */
	uint64_t marker_hash;
	bool done;                     /* the walk reached the end */
	bool unfinished;               /* it stopped early: sweep again */
};

void bind_sweep_begin(struct bind_sweep *s, struct bind_table *t, struct rec_pool *pool,
		      uint64_t now_ms);
bool bind_sweep_step(struct bind_sweep *s, uint64_t records);
uint64_t bind_sweep_end(struct bind_sweep *s, uint64_t *aors_removed);

uint64_t bind_sweep(struct bind_table *t, struct rec_pool *pool, uint64_t now_ms,
		    uint64_t *aors_removed);

/*
 * May a stored binding have expired by now_ms? The table keeps a lower
 * bound of every stored binding's expires_ms: bind_publish() lowers it to
 * the new record's earliest expiry right after publishing, a sweep resets
 * it before its walk (bind_sweep_begin(): any record published before the
 * reset is in the walk) and lowers it to the earliest expiry it kept
 * (bind_sweep_end(); to 0 when it could not finish a record, out of
 * memory, or was ended before the end of the table). While it says no, a
 * sweep would find nothing to expire and its walk (every record:
 * milliseconds for 10 000 AORs, on the order of a second for a million)
 * can be skipped. Any thread; one atomic load.
 */
bool bind_sweep_due(struct bind_table *t, uint64_t now_ms);

/* That lower bound (UINT64_MAX: no binding is stored). */
uint64_t bind_expiry_floor(struct bind_table *t);

/*
 * How long to wait, after a sweep whose walk took walk_us, before walking
 * again, so that walks take at most 1/BIND_SWEEP_DUTY of the sweeping
 * thread. With a million AORs a walk takes the order of a second and some
 * binding is nearly always due (phones drop off all the time), so walking
 * whenever bind_sweep_due() says so would keep the thread, and every RCU
 * grace period, waiting on walks most of the time. Expired bindings are
 * invisible to look-ups and replaced on the AOR's next change meanwhile;
 * the walk only reclaims them. For tables of up to some 100 000 AORs (walks
 * under 50 ms) this is below the control thread's 1 s tick.
 */
#define BIND_SWEEP_DUTY 20u

static inline uint64_t bind_sweep_gap_ms(uint64_t walk_us)
{
	return walk_us / 1000u * BIND_SWEEP_DUTY;
}

/*
 * Control thread, between sweeps: grow the table now when `records` (the
 * AORs counted by the workers) has outgrown its buckets, so a burst of new
 * registrations does not lengthen the chains until the next sweep. Only
 * grows; same offline note as bind_sweep_end().
 */
void bind_reserve(struct bind_table *t, uint64_t records);

/*
 * Control thread, instead of a sweep that was not due: size the table for
 * `records` as a sweep would (grow, or shrink when it has fallen below a
 * quarter of the buckets). Same offline note as bind_sweep_end().
 */
void bind_fit(struct bind_table *t, uint64_t records);

/* The bucket count the table was last sized to. */
unsigned long bind_buckets(struct bind_table *t);

#endif
