/* SPDX-License-Identifier: MIT */
/*
 * The users file reader: CSV (RFC 4180) rows into struct users_row.
 *
 * One pass over the bytes (mapped from the file, or the caller's buffer).
 * Each field is decoded straight into the row's fixed-size buffers. The
 * duplicate checks keep one hash set of names and numbers whose 8-byte
 * entries hold only a hash and the field's offset in the buffer (a hash
 * match is confirmed by decoding the earlier field again), so the set costs
 * 16 to 32 bytes per row and grows by doubling. Nothing is allocated per
 * row.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "str.h"
#include "users_file.h"

/* Offsets are kept in 32 bits. */
#define UF_SIZE_MAX ((size_t)UINT32_MAX - 1)

enum uf_col {
	COL_NAME,
	COL_PASSWORD,
	COL_NUMBER,
	COL_DOMAIN,
	COL_DISPLAY,
	COL_MAX_CONTACTS,
	COL_COUNT
};

#define MAX_CONTACTS_TEXT 16
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-"

static const struct {
	const char *name;
	size_t off;                 /* in struct users_row; max_contacts: unused */
	size_t size;
} cols[COL_COUNT] = {
	[COL_NAME] = { "name", offsetof(struct users_row, name), USER_NAME_MAX },
	[COL_PASSWORD] = { "password", offsetof(struct users_row, password), USERS_PASSWORD_MAX },
	[COL_NUMBER] = { "number", offsetof(struct users_row, number), USER_NUMBER_MAX },
	[COL_DOMAIN] = { "domain", offsetof(struct users_row, domain), USER_DOMAIN_MAX },
	[COL_DISPLAY] = { "display", offsetof(struct users_row, display), USER_DISPLAY_MAX },
	[COL_MAX_CONTACTS] = { "max_contacts", 0, MAX_CONTACTS_TEXT },
};

static const char *const col_names[COL_COUNT + 1] = {
	"name", "password", "number", "domain", "display", "max_contacts", NULL,
};

/*
 * The names and numbers seen so far, in one open-addressing set since they
 * share one key space (users_find looks a key up as a name, then as a
 * number). A slot is hash:31 kind:1 (offset + 1):32; 0 is empty. Equal
 * hashes are confirmed by decoding the earlier field again.
 */
struct seen {
	uint64_t *slot;
	size_t mask;
	size_t n;
};

enum seen_kind { SEEN_NAME = 0, SEEN_NUMBER = 1 };

struct uf {
	const char *name;               /* the file, in messages */
	const char *b;
	size_t len;
	size_t pos;
	unsigned long line;
	char *err;
	size_t errcap;
	unsigned ncols;
	enum uf_col col[COL_COUNT];     /* header position -> column */
	unsigned columns;
	struct seen seen;
	char again[USERS_PASSWORD_MAX]; /* an earlier field, decoded again */
};

enum field_end { FE_COMMA, FE_EOL, FE_EOF, FE_BAD };

static void uf_err(struct uf *u, unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void uf_err(struct uf *u, unsigned long line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!u->err || u->errcap == 0)
		return;
	if (line)
		n = snprintf(u->err, u->errcap, "%s:%lu: ", u->name, line);
	else
		n = snprintf(u->err, u->errcap, "%s: ", u->name);
	if (n < 0 || (size_t)n >= u->errcap)
		return;
	va_start(ap, fmt);
	vsnprintf(u->err + n, u->errcap - (size_t)n, fmt, ap);
	va_end(ap);
}

#define SHOW_MAX 40

/* A printable, bounded copy of a field for a message. */
static const char *show(char out[SHOW_MAX + 4], const char *v)
{
	size_t i;

	for (i = 0; v[i] && i < SHOW_MAX; i++) {
		unsigned char ch = (unsigned char)v[i];
		out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (v[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/*
 * Decode the field at *pos into out (cap bytes, NUL-terminated, cap may be
 * 0 to discard it); *flen is its decoded length even when it did not fit.
 * Moves *pos past the field and its delimiter, and *line past the line
 * ends inside quotes. On FE_BAD, *why says what is wrong.
 */
static enum field_end scan_field(const char *b, size_t n, size_t *pos, unsigned long *line,
				 char *out, size_t cap, size_t *flen, const char **why)
{
	size_t i = *pos, o = 0;
	enum field_end end;

#define PUT(ch)                                                                \
	do {                                                                   \
		if (o + 1 < cap)                                               \
			out[o] = (ch);                                         \
		o++;                                                           \
	} while (0)

	if (i < n && b[i] == '"') {
		for (i++;; i++) {
			if (i >= n) {
				*why = "unterminated quoted field";
				goto bad;
			}
			if (b[i] == '"') {
				if (i + 1 < n && b[i + 1] == '"') {
					PUT('"');
					i++;
					continue;
				}
				i++;
				break;
			}
			if (b[i] == '\0')
				goto nul;
			if (b[i] == '\n')
				(*line)++;
			PUT(b[i]);
		}
	} else {
		for (; i < n; i++) {
			char ch = b[i];

			if (ch == ',' || ch == '\n')
				break;
			if (ch == '\r' && (i + 1 == n || b[i + 1] == '\n'))
				break;
			if (ch == '"') {
				*why = "a '\"' inside an unquoted field (quote the whole field and "
				       "double the '\"')";
				goto bad;
			}
			if (ch == '\0')
				goto nul;
			PUT(ch);
		}
	}
#undef PUT

	if (i >= n) {
		end = FE_EOF;
	} else if (b[i] == ',') {
		end = FE_COMMA;
		i++;
	} else if (b[i] == '\n') {
		end = FE_EOL;
		i++;
	} else if (b[i] == '\r' && (i + 1 == n || b[i + 1] == '\n')) {
		end = FE_EOL;
		i += i + 1 == n ? 1 : 2;
	} else {
		*why = "unexpected text after a closing quote";
		goto bad;
	}
	if (cap)
		out[o < cap ? o : cap - 1] = '\0';
	*flen = o;
	*pos = i;
	return end;
nul:
	*why = "a NUL byte (is this a text file?)";
bad:
	*pos = i;
	return FE_BAD;
}

/* ---- duplicate checks --------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a, then a final mix */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h & 0x7fffffffu;
}

static int seen_grow(struct seen *s)
{
	size_t cap = s->slot ? (s->mask + 1) * 2 : 1024;
	uint64_t *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; s->slot && i <= s->mask; i++) {
		uint64_t e = s->slot[i];
		size_t j;

		if (!e)
			continue;
		for (j = (e >> 33) & (cap - 1); slot[j]; j = (j + 1) & (cap - 1))
			;
		slot[j] = e;
	}
	free(s->slot);
	s->slot = slot;
	s->mask = cap - 1;
	return 0;
}

/*
 * Find key among the fields seen. Absent: add it (the field at off, of
 * *kind) and return 0. Present: return 1 with the earlier field's offset in
 * *prev and its kind in *kind, adding nothing. -ENOMEM. Linear probing at a
 * load of one half at most: one cache miss per call in the common case.
 */
static int seen_check_add(struct uf *u, const char *key, size_t off, enum seen_kind *kind,
			  size_t *prev)
{
	struct seen *s = &u->seen;
	uint32_t h = hash_str(key);
	size_t j;

	if ((s->n + 1) * 2 > (s->slot ? s->mask + 1 : 0) && seen_grow(s) < 0)
		return -ENOMEM;
	for (j = h & s->mask; s->slot[j]; j = (j + 1) & s->mask) {
		uint64_t e = s->slot[j];
		size_t at = (size_t)(uint32_t)e - 1, pos = at, flen;
		unsigned long line = 0;
		const char *why;

		if ((uint32_t)(e >> 33) != h)
			continue;
		if (scan_field(u->b, u->len, &pos, &line, u->again, sizeof(u->again), &flen,
			       &why) != FE_BAD &&
		    flen < sizeof(u->again) && strcmp(u->again, key) == 0) {
			*kind = (enum seen_kind)((e >> 32) & 1);
			*prev = at;
			return 1;
		}
	}
	s->slot[j] = (uint64_t)h << 33 | (uint64_t)*kind << 32 | (uint64_t)(off + 1);
	s->n++;
	return 0;
}

static unsigned long line_at(const struct uf *u, size_t off)
{
	unsigned long line = 1;
	const char *p = u->b, *end = u->b + off;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p++;
	}
	return line;
}

/* ---- rows --------------------------------------------------------------- */

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Skip comment lines, empty lines and lines of blanks. */
static void skip_blank(struct uf *u)
{
	while (u->pos < u->len) {
		size_t i = u->pos;
		const char *nl;

		if (u->b[i] != '#') {
			while (i < u->len && (u->b[i] == ' ' || u->b[i] == '\t'))
				i++;
			if (i < u->len && u->b[i] == '\r')
				i++;
			if (i < u->len && u->b[i] != '\n')
				return;
		}
		nl = memchr(u->b + i, '\n', u->len - i);
		if (!nl) {
			u->pos = u->len;
			return;
		}
		u->pos = (size_t)(nl - u->b) + 1;
		u->line++;
	}
}

static int parse_header(struct uf *u)
{
	char hname[32], shown[SHOW_MAX + 4];
	unsigned long line = u->line;
	enum field_end fe;
	const char *why;
	size_t flen;

	for (unsigned i = 0;; i++) {
		const char *guess;
		unsigned c;

		fe = scan_field(u->b, u->len, &u->pos, &u->line, hname, sizeof(hname), &flen, &why);
		if (fe == FE_BAD) {
			uf_err(u, line, "header: %s", why);
			return TDM_EMALFORMED;
		}
		if (flen == 0) {
			uf_err(u, line, "header: column %u has no name", i + 1);
			return TDM_EMALFORMED;
		}
		for (c = 0; c < COL_COUNT; c++)
			if (flen < sizeof(hname) && strcasecmp(hname, cols[c].name) == 0)
				break;
		if (c == COL_COUNT) {
			guess = config_suggest(hname, strlen(hname), col_names);
			if (guess)
				uf_err(u, line, "unknown column '%s' (did you mean '%s'?)",
				       show(shown, hname), guess);
			else
				uf_err(u, line,
				       "unknown column '%s' (the first line must be a header naming "
				       "the columns: name, password, number, domain, display, "
				       "max_contacts)",
				       show(shown, hname));
			return TDM_EMALFORMED;
		}
		if (u->columns & (1u << c)) {
			uf_err(u, line, "column '%s' appears twice in the header", cols[c].name);
			return TDM_EMALFORMED;
		}
		/* COL_COUNT distinct columns at most: i < COL_COUNT here. */
		u->columns |= 1u << c;
		u->col[i] = (enum uf_col)c;
		u->ncols = i + 1;
		if (fe != FE_COMMA)
			break;
	}
	if (fe == FE_EOL)
		u->line++;
	if (!(u->columns & (1u << COL_NAME))) {
		uf_err(u, line, "the header has no 'name' column");
		return TDM_EMALFORMED;
	}
	return 0;
}

static int check_row(struct uf *u, struct users_row *row, const char *mc, size_t name_off,
		     size_t number_off, size_t row_start)
{
	unsigned long line = row->line;
	char shown[SHOW_MAX + 4];
	const char *digits;
	enum seen_kind kind;
	size_t len, off;
	int found;
	uint64_t v;

	len = strlen(row->name);
	if (len == 0) {
		uf_err(u, line, "empty name");
		return TDM_EMALFORMED;
	}
	if (strspn(row->name, NAME_CHARS) != len) {
		uf_err(u, line, "name '%s' may only contain letters, digits, '.', '_', '+' and '-'",
		       show(shown, row->name));
		return TDM_EMALFORMED;
	}
	if (row->name[0] == '_') {
		uf_err(u, line, "name '%s' starts with '_': such names are reserved for the pair's "
				"peers (_STANDBY_, _ACTIVE_)",
		       show(shown, row->name));
		return TDM_EMALFORMED;
	}
	if (has_ctl(row->password)) {
		uf_err(u, line, "the password contains a control character");
		return TDM_EMALFORMED;
	}
	digits = row->number + (row->number[0] == '+');
	if (row->number[0] &&
	    (digits[0] == '\0' || strspn(digits, "0123456789*#") != strlen(digits))) {
		uf_err(u, line, "number '%s' may only contain digits, '*' and '#', after an "
				"optional leading '+'",
		       show(shown, row->number));
		return TDM_EMALFORMED;
	}
	if (row->domain[0]) {
		char norm[USER_DOMAIN_MAX];

		len = strlen(row->domain);
		if (config_host_normalize(row->domain, len, norm, sizeof(norm)) < 0) {
			uf_err(u, line, "domain '%s' is not a host name or IP address",
			       show(shown, row->domain));
			return TDM_EMALFORMED;
		}
		memcpy(row->domain, norm, sizeof(norm));
	}
	if (has_ctl(row->display)) {
		uf_err(u, line, "the display name contains a control character");
		return TDM_EMALFORMED;
	}
	row->max_contacts = 0;
	if (mc[0]) {
		if (!tstr_to_u64(tstr_cstr(mc), CFG_MAX_CONTACTS_LIMIT, &v)) {
			uf_err(u, line, "max_contacts '%s' is not a whole number from 0 to %d",
			       show(shown, mc), CFG_MAX_CONTACTS_LIMIT);
			return TDM_EMALFORMED;
		}
		row->max_contacts = (uint32_t)v;
	}

	/* Names and numbers are keys of one lookup (users_find): each must
	 * be unique, and a number must not be another user's name. */
	kind = SEEN_NAME;
	found = seen_check_add(u, row->name, name_off, &kind, &off);
	if (found < 0)
		goto nomem;
	if (found) {
		if (kind == SEEN_NAME)
			uf_err(u, line, "duplicate name '%s' (first on line %lu)",
			       show(shown, row->name), line_at(u, off));
		else
			uf_err(u, line, "name '%s' is the number of the user on line %lu",
			       show(shown, row->name), line_at(u, off));
		return TDM_EMALFORMED;
	}
	if (row->number[0]) {
		kind = SEEN_NUMBER;
		found = seen_check_add(u, row->number, number_off, &kind, &off);
		if (found < 0)
			goto nomem;
		/* Equal to the row's own name: the same user, and the name's
		 * entry already stands for it. */
		if (found && !(kind == SEEN_NAME && off >= row_start)) {
			if (kind == SEEN_NUMBER)
				uf_err(u, line, "duplicate number '%s' (first on line %lu)",
				       show(shown, row->number), line_at(u, off));
			else
				uf_err(u, line, "number '%s' is the name of the user on line %lu",
				       show(shown, row->number), line_at(u, off));
			return TDM_EMALFORMED;
		}
	}
	return 0;
nomem:
	uf_err(u, line, "out of memory");
	return -ENOMEM;
}

static int parse_rows(struct uf *u, struct users_row *row, users_file_row_cb cb, void *arg)
{
	char mc[MAX_CONTACTS_TEXT], cberr[USERS_FILE_ERR_MAX];
	unsigned long rows = 0;
	int r;

	for (;;) {
		size_t row_start, name_off = 0, number_off = 0, flen;
		enum field_end fe;
		const char *why;
		unsigned nf;

		skip_blank(u);
		if (u->pos >= u->len)
			break;
		row_start = u->pos;
		row->line = u->line;
		row->name[0] = row->password[0] = row->number[0] = '\0';
		row->domain[0] = row->display[0] = '\0';
		mc[0] = '\0';
		for (nf = 0;; nf++) {
			char *dst = NULL;
			size_t cap = 0;

			if (nf < u->ncols) {
				enum uf_col c = u->col[nf];

				dst = c == COL_MAX_CONTACTS ? mc : (char *)row + cols[c].off;
				cap = cols[c].size;
				if (c == COL_NAME)
					name_off = u->pos;
				else if (c == COL_NUMBER)
					number_off = u->pos;
			}
			fe = scan_field(u->b, u->len, &u->pos, &u->line, dst, cap, &flen, &why);
			if (fe == FE_BAD) {
				uf_err(u, row->line, "%s", why);
				return TDM_EMALFORMED;
			}
			if (nf < u->ncols && flen >= cap) {
				uf_err(u, row->line, "%s too long (%zu bytes, at most %zu)",
				       cols[u->col[nf]].name, flen, cap - 1);
				return TDM_EMALFORMED;
			}
			if (fe != FE_COMMA)
				break;
		}
		if (nf + 1 != u->ncols) {
			uf_err(u, row->line, "%u field%s, the header has %u", nf + 1,
			       nf ? "s" : "", u->ncols);
			return TDM_EMALFORMED;
		}
		if (fe == FE_EOL)
			u->line++;
		r = check_row(u, row, mc, name_off, number_off, row_start);
		if (r < 0)
			return r;
		if (rows >= INT_MAX) {
			uf_err(u, row->line, "more than %d rows", INT_MAX);
			return TDM_ETOOMANY;
		}
		cberr[0] = '\0';
		r = cb(row, arg, cberr, sizeof(cberr));
		if (r < 0) {
			uf_err(u, row->line, "%s", cberr[0] ? cberr : tdm_strerror(r));
			return r;
		}
		rows++;
	}
	return (int)rows;
}

int users_file_parse(const char *name, const char *data, size_t len, users_file_row_cb cb,
		     void *arg, char *err, size_t errcap)
{
	struct users_row *row;
	struct uf *u;
	int r;

	if (err && errcap)
		err[0] = '\0';
	u = calloc(1, sizeof(*u));
	row = calloc(1, sizeof(*row));
	if (!u || !row) {
		if (err && errcap)
			snprintf(err, errcap, "%s: out of memory", name);
		r = -ENOMEM;
		goto out;
	}
	u->name = name;
	u->b = data;
	u->len = len;
	u->line = 1;
	u->err = err;
	u->errcap = errcap;
	if (len > UF_SIZE_MAX) {
		uf_err(u, 0, "too large (%zu bytes at most)", UF_SIZE_MAX);
		r = TDM_ETOOMANY;
		goto out;
	}
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		u->pos = 3;             /* a UTF-8 byte order mark */
	skip_blank(u);
	if (u->pos >= u->len) {
		uf_err(u, 0, "no header line (the first line names the columns, e.g. "
			     "name,password,number)");
		r = TDM_EMALFORMED;
		goto out;
	}
	r = parse_header(u);
	if (r == 0) {
		row->columns = u->columns;
		r = parse_rows(u, row, cb, arg);
	}
out:
	if (u) {
		free(u->seen.slot);
	}
	free(u);
	free(row);
	return r;
}

int users_file_read(const char *path, users_file_row_cb cb, void *arg, char *err, size_t errcap)
{
	struct stat st;
	char *buf = NULL;
	void *map = MAP_FAILED;
	size_t len = 0, cap = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > UF_SIZE_MAX) {
		r = -EFBIG;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		len = (size_t)st.st_size;
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			r = -errno;
			goto fail;
		}
		madvise(map, len, MADV_SEQUENTIAL);
		close(fd);
		fd = -1;
		r = users_file_parse(path, map, len, cb, arg, err, errcap);
		munmap(map, len);
		return r;
	}
	/* A pipe or a character device: read it all. */
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= UF_SIZE_MAX) {
				r = -EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			if (cap > UF_SIZE_MAX)
				cap = UF_SIZE_MAX;
			nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	r = users_file_parse(path, buf ? buf : "", len, cb, arg, err, errcap);
	free(buf);
	return r;
fail:
	if (err && errcap)
		snprintf(err, errcap, "%s: cannot read: %s", path, tdm_strerror(r));
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
