/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what a standby or a master decodes from its peer
 * after login: the link's frame header (frame_parse) and the objects
 * replication messages (objsync_decode, and through it the object codec
 * store_obj_decode). The first input byte picks the message type
 * (0x40 + byte % 8, so one unassigned type is tried too); the rest is the
 * payload. Properties checked for any input:
 *   - a decoded object is valid (store_obj_valid) and re-encodes to bytes
 *     that decode to the same object;
 *   - a CHANGES message's revisions are strictly increasing;
 *   - frame_parse never reports a frame longer than its input.
 * A broken property aborts, so libFuzzer keeps the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"
#include "objsync.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store_obj objs[OBJSYNC_MAX_PER_FRAME];
static uint64_t revs[OBJSYNC_MAX_PER_FRAME];

static void check_obj(const struct store_obj *o)
{
	uint8_t enc[STORE_OBJ_MAX];
	struct store_obj again;
	int len;

	if (store_obj_valid(o))
		abort();
	len = store_obj_encode(o, enc, sizeof(enc));
	if (len < 0)
		abort();
	if (store_obj_decode(enc, (size_t)len, &again, NULL, 0) != 0)
		abort();
	if (memcmp(&again, o, sizeof(again)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct objsync_msg m;
	struct frame f;
	struct frame_err fe;
	char err[256];
	uint8_t type;

	if (size == 0)
		return 0;

	/* The whole input as a stream of frames. */
	if (frame_parse(data, size, FRAME_MAX_PAYLOAD, &f, &fe) == 1 && f.total > size)
		abort();

	type = (uint8_t)(0x40 + data[0] % 8);
	if (objsync_decode(type, data + 1, (uint32_t)(size - 1), &m, objs, revs, err,
			   sizeof(err)) != 0)
		return 0;
	if (type == OBJSYNC_SNAPSHOT_CHUNK || type == OBJSYNC_CHANGES) {
		if (m.n > OBJSYNC_MAX_PER_FRAME)
			abort();
		for (uint32_t i = 0; i < m.n; i++) {
			check_obj(&objs[i]);
			if (type == OBJSYNC_CHANGES && i && revs[i] <= revs[i - 1])
				abort();
		}
	}

	/* The payload alone as one object. */
	struct store_obj o;
	if (store_obj_decode(data + 1, size - 1, &o, NULL, 0) == 0)
		check_obj(&o);
	return 0;
}
