/* SPDX-License-Identifier: MIT */
/*
 * The users file: a CSV file (RFC 4180) of the users a node knows, read
 * row by row. The format is documented in docs/configuration.md.
 *
 * The first row is a header naming the columns, in any order: `name`
 * (required), `password`, `number`, `domain`, `display`, `max_contacts`.
 * Lines starting with '#' and empty lines are skipped. Each data row is
 * checked (field count, lengths against dataplane/users.h, the characters of
 * a name and a number, domain syntax, max_contacts range, no duplicate name
 * or number in the file, no number equal to another row's name) and handed
 * to a callback; reading stops at the first bad row or at the first row the
 * callback refuses, with a message naming the file and the line:
 *   "users.csv:7: duplicate name 'alice' (first on line 3)"
 *
 * The reader does not know the users table: the caller turns rows into
 * users. It makes one pass, in time linear in the file's size, and allocates
 * only a hash set of offsets for the duplicate checks (no allocation per row).
 *
 * Calling context: any thread; no global state.
 */
#ifndef TANDEM_USERS_FILE_H
#define TANDEM_USERS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "users.h"

#define USERS_PASSWORD_MAX 256         /* bytes, NUL included */
#define USERS_FILE_ERR_MAX 320         /* room for any message */

/* Columns present in the header (struct users_row.columns). */
#define USERS_COL_NAME (1u << 0)
#define USERS_COL_PASSWORD (1u << 1)
#define USERS_COL_NUMBER (1u << 2)
#define USERS_COL_DOMAIN (1u << 3)
#define USERS_COL_DISPLAY (1u << 4)
#define USERS_COL_MAX_CONTACTS (1u << 5)

/* One data row, decoded. Strings are NUL-terminated; an absent column or an
 * empty field is "" (max_contacts 0: the node's [sip] max_contacts). */
struct users_row {
	unsigned long line;                 /* 1-based line of the row */
	unsigned columns;                   /* USERS_COL_* of the header */
	char name[USER_NAME_MAX];           /* non-empty, [A-Za-z0-9._+-] */
	char password[USERS_PASSWORD_MAX];  /* "": cannot authenticate */
	char number[USER_NUMBER_MAX];       /* "" or [+]digits/'*'/'#' */
	char domain[USER_DOMAIN_MAX];       /* "" or a host, lower case */
	char display[USER_DISPLAY_MAX];
	uint32_t max_contacts;              /* 0..CFG_MAX_CONTACTS_LIMIT */
};

/*
 * Called once per data row, in file order. Return 0 to go on; a negative
 * error to refuse the row and stop reading, after writing the reason into
 * err (at most errcap bytes; left empty, the error's name is used). The row
 * is only valid during the call.
 */
typedef int (*users_file_row_cb)(const struct users_row *row, void *arg, char *err,
				 size_t errcap);

/*
 * Read the users file at path. Returns the number of rows delivered, or a
 * negative error with a message in err (errcap bytes, USERS_FILE_ERR_MAX is
 * enough): TDM_EMALFORMED for a bad file, the callback's error when it
 * refused a row, TDM_ETOOMANY beyond INT_MAX rows, -errno when the file
 * cannot be read, -ENOMEM. Rows before the bad one have been delivered.
 */
int users_file_read(const char *path, users_file_row_cb cb, void *arg, char *err,
		    size_t errcap);

/* Same, from len bytes in memory (not necessarily NUL-terminated); `name`
 * stands for the file in messages. */
int users_file_parse(const char *name, const char *data, size_t len, users_file_row_cb cb,
		     void *arg, char *err, size_t errcap);

#endif
