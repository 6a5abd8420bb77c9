/* SPDX-License-Identifier: MIT */
/*
 * Tests of control/out.c: the growable buffer, text and JSON rendering of
 * nested structures, escaping of hostile bytes, errors, out-of-memory, and
 * the Prometheus helpers. A property test renders random structures with
 * random bytes and checks that text never has an empty line and that JSON
 * is always one valid document on one line.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

/* Render with fn into a fresh buffer; the caller frees the result. */
static char *render(enum out_format fmt, void (*fn)(struct out *o))
{
	struct dbuf b;
	struct out o;
	char *s;

	dbuf_init(&b);
	out_init(&o, &b, fmt);
	fn(&o);
	out_finish(&o);
	cr_assert(!b.oom);
	s = strdup(b.data ? b.data : "");
	dbuf_free(&b);
	return s;
}

/* ---- a small JSON validator (RFC 8259), strict ---------------------------- */

struct jp {
	const unsigned char *p;
	const unsigned char *end;
};

static bool jp_value(struct jp *j, int depth);

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static bool jp_lit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool jp_hex4(struct jp *j)
{
	for (int i = 0; i < 4; i++, j->p++)
		if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
			return false;
	return true;
}

/* Checks one UTF-8 sequence strictly (no overlong, no surrogates). */
static bool jp_utf8(struct jp *j)
{
	unsigned char c = *j->p;
	int n;
	unsigned cp;

	if (c < 0x80) {
		j->p++;
		return true;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
	} else {
		return false;
	}
	if (j->end - j->p < n + 1)
		return false;
	for (int i = 1; i <= n; i++) {
		if ((j->p[i] & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (j->p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	j->p += n + 1;
	return true;
}

static bool jp_string(struct jp *j)
{
	if (!jp_lit(j, "\""))
		return false;
	while (j->p < j->end) {
		unsigned char c = *j->p;

		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return false;
			if (*j->p == 'u') {
				j->p++;
				if (!jp_hex4(j))
					return false;
			} else if (strchr("\"\\/bfnrt", *j->p) && *j->p) {
				j->p++;
			} else {
				return false;
			}
			continue;
		}
		if (!jp_utf8(j))
			return false;
	}
	return false;
}

static bool jp_number(struct jp *j)
{
	const unsigned char *s = j->p;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end)
		return false;
	if (*j->p == '0') {
		j->p++;
	} else if (*j->p >= '1' && *j->p <= '9') {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	} else {
		return false;
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > s;
}

static bool jp_value(struct jp *j, int depth)
{
	if (depth > 64)
		return false;
	jp_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		j->p++;
		jp_ws(j);
		if (jp_lit(j, "}"))
			return true;
		for (;;) {
			jp_ws(j);
			if (!jp_string(j))
				return false;
			jp_ws(j);
			if (!jp_lit(j, ":") || !jp_value(j, depth + 1))
				return false;
			jp_ws(j);
			if (jp_lit(j, "}"))
				return true;
			if (!jp_lit(j, ","))
				return false;
		}
	case '[':
		j->p++;
		jp_ws(j);
		if (jp_lit(j, "]"))
			return true;
		for (;;) {
			if (!jp_value(j, depth + 1))
				return false;
			jp_ws(j);
			if (jp_lit(j, "]"))
				return true;
			if (!jp_lit(j, ","))
				return false;
		}
	case '"':
		return jp_string(j);
	case 't':
		return jp_lit(j, "true");
	case 'f':
		return jp_lit(j, "false");
	case 'n':
		return jp_lit(j, "null");
	default:
		return jp_number(j);
	}
}

/* One JSON document on one line, ending with '\n'. */
static bool json_doc_valid(const char *s, size_t len)
{
	struct jp j = { (const unsigned char *)s, (const unsigned char *)s + len };

	if (len < 2 || s[len - 1] != '\n' || memchr(s, '\n', len - 1))
		return false;
	j.end--;
	if (!jp_value(&j, 0))
		return false;
	return j.p == j.end;
}

#define JSON_OK(lit) json_doc_valid((lit), sizeof(lit) - 1)

Test(out_json_validator, rejects_what_it_must)
{
	/* The validator itself: otherwise the property test proves nothing. */
	cr_assert(JSON_OK("{\"a\":[1,2.5,-0,1e3,\"\\u00ff\"]}\n"));
	cr_assert(!JSON_OK("{\"a\":1,}\n"));
	cr_assert(!JSON_OK("{\"a\":\"\x01\"}\n"));
	cr_assert(!JSON_OK("{\"a\":\"\xff\"}\n"));
	cr_assert(!JSON_OK("{\"a\":\"\xed\xa0\x80\"}\n"));
	cr_assert(!JSON_OK("{\"a\":01}\n"));
	cr_assert(!JSON_OK("{\"a\":1}\n{}\n"));
	cr_assert(!JSON_OK("{\"a\":nan}\n"));
}

/* ---- the documented example -------------------------------------------------- */

static void example(struct out *o)
{
	out_str(o, "node", "tandem-a");
	out_u64(o, "epoch", 3);
	out_bool(o, "active", true);
	out_obj_begin(o, "peer");
	out_str(o, "address", "192.0.2.10:5070");
	out_str(o, "link", "up");
	out_obj_end(o);
	out_list_begin(o, "registrations");
	out_obj_begin(o, NULL);
	out_str(o, "aor", "sip:alice@example.com");
	out_list_begin(o, "contacts");
	out_str(o, NULL, "sip:alice@192.0.2.1:5060");
	out_list_end(o);
	out_obj_end(o);
	out_obj_begin(o, NULL);
	out_str(o, "aor", "_STANDBY_");
	out_list_begin(o, "contacts");
	out_list_end(o);
	out_obj_end(o);
	out_list_end(o);
}

Test(out_text, renders_nested_objects_and_lists_as_an_indented_outline)
{
	char *s = render(OUT_TEXT, example);

	cr_assert_str_eq(s,
			 "node: tandem-a\n"
			 "epoch: 3\n"
			 "active: true\n"
			 "peer:\n"
			 "  address: 192.0.2.10:5070\n"
			 "  link: up\n"
			 "registrations:\n"
			 "  - aor: sip:alice@example.com\n"
			 "    contacts:\n"
			 "      - sip:alice@192.0.2.1:5060\n"
			 "  - aor: _STANDBY_\n"
			 "    contacts: (none)\n");
	free(s);
}

Test(out_json, renders_the_same_structure_as_one_line_of_json)
{
	char *s = render(OUT_JSON, example);

	cr_assert_str_eq(s,
			 "{\"node\":\"tandem-a\",\"epoch\":3,\"active\":true,"
			 "\"peer\":{\"address\":\"192.0.2.10:5070\",\"link\":\"up\"},"
			 "\"registrations\":[{\"aor\":\"sip:alice@example.com\","
			 "\"contacts\":[\"sip:alice@192.0.2.1:5060\"]},"
			 "{\"aor\":\"_STANDBY_\",\"contacts\":[]}]}\n");
	cr_assert(json_doc_valid(s, strlen(s)));
	free(s);
}

static void lists_in_lists(struct out *o)
{
	out_list_begin(o, "matrix");
	out_list_begin(o, NULL);
	out_u64(o, NULL, 1);
	out_u64(o, NULL, 2);
	out_list_end(o);
	out_list_begin(o, NULL);
	out_list_end(o);
	out_obj_begin(o, NULL);
	out_obj_end(o);
	out_obj_begin(o, NULL);
	out_obj_begin(o, "inner");
	out_i64(o, "x", -1);
	out_obj_end(o);
	out_obj_end(o);
	out_list_end(o);
	out_obj_begin(o, "empty");
	out_obj_end(o);
}

Test(out_text, marks_each_list_item_and_shows_empty_containers_as_none)
{
	char *s = render(OUT_TEXT, lists_in_lists);

	cr_assert_str_eq(s,
			 "matrix:\n"
			 "  - - 1\n"
			 "    - 2\n"
			 "  - (none)\n"
			 "  - (none)\n"
			 "  - inner:\n"
			 "      x: -1\n"
			 "empty: (none)\n");
	free(s);
}

Test(out_json, renders_lists_of_lists_and_empty_containers)
{
	char *s = render(OUT_JSON, lists_in_lists);

	cr_assert_str_eq(s, "{\"matrix\":[[1,2],[],{},{\"inner\":{\"x\":-1}}],\"empty\":{}}\n");
	free(s);
}

static void empty_doc(struct out *o)
{
}

Test(out_text, renders_an_empty_document_as_nothing_and_json_as_empty_object)
{
	char *t = render(OUT_TEXT, empty_doc);
	char *j = render(OUT_JSON, empty_doc);

	cr_assert_str_eq(t, "");
	cr_assert_str_eq(j, "{}\n");
	free(t);
	free(j);
}

/* ---- scalars ------------------------------------------------------------------- */

static void numbers(struct out *o)
{
	out_u64(o, "u", UINT64_MAX);
	out_i64(o, "i", INT64_MIN);
	out_double(o, "d", 2.0 / 3.0, 3);
	out_double(o, "d0", 2.5, 0);
	out_double(o, "neg", -0.125, 2);
	out_double(o, "nan", NAN, 2);
	out_double(o, "inf", INFINITY, 1);
	out_bool(o, "t", true);
	out_bool(o, "f", false);
	out_fmt(o, "fmt", "%d/%s", 7, "x");
}

Test(out_json, renders_numbers_and_booleans_and_non_finite_doubles_as_null)
{
	char *s = render(OUT_JSON, numbers);

	cr_assert_str_eq(s, "{\"u\":18446744073709551615,\"i\":-9223372036854775808,"
			    "\"d\":0.667,\"d0\":2,\"neg\":-0.12,\"nan\":null,\"inf\":null,"
			    "\"t\":true,\"f\":false,\"fmt\":\"7/x\"}\n");
	cr_assert(json_doc_valid(s, strlen(s)));
	free(s);
}

Test(out_text, renders_numbers_and_booleans)
{
	char *s = render(OUT_TEXT, numbers);

	cr_assert_str_eq(s, "u: 18446744073709551615\n"
			    "i: -9223372036854775808\n"
			    "d: 0.667\n"
			    "d0: 2\n"
			    "neg: -0.12\n"
			    "nan: nan\n"
			    "inf: inf\n"
			    "t: true\n"
			    "f: false\n"
			    "fmt: 7/x\n");
	free(s);
}

static void null_and_empty(struct out *o)
{
	out_str(o, "null", NULL);
	out_str(o, "empty", "");
	out_tstr(o, "tnull", TSTR_NULL);
	out_tstr(o, "nul", tstr_make("a\0b", 3));
	out_tstr(o, "part", tstr_make("abcdef", 3));
}

Test(out_json, renders_null_strings_as_null_and_counted_strings_by_length)
{
	char *s = render(OUT_JSON, null_and_empty);

	cr_assert_str_eq(s, "{\"null\":null,\"empty\":\"\",\"tnull\":\"\","
			    "\"nul\":\"a\\u0000b\",\"part\":\"abc\"}\n");
	free(s);
}

Test(out_text, renders_null_as_dash_and_empty_as_quotes)
{
	char *s = render(OUT_TEXT, null_and_empty);

	cr_assert_str_eq(s, "null: -\nempty: \"\"\ntnull: \"\"\nnul: a\\x00b\npart: abc\n");
	free(s);
}

/* ---- escaping ----------------------------------------------------------------- */

static void hostile(struct out *o)
{
	out_str(o, "quote", "say \"hi\"");
	out_str(o, "backslash", "a\\b");
	out_str(o, "controls", "l1\nl2\r\t\b\f\x01\x1b\x7f");
	out_str(o, "utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	out_str(o, "c1", "x\xc2\x85y\xc2\xa0z");
	out_str(o, "invalid", "\xff\xc0\x80\xed\xa0\x80\xe2\x82 \xf4\x90\x80\x80");
	out_str(o, "key\nwith \"odd\" bytes\xfe", "v");
}

Test(out_json, escapes_quotes_controls_and_invalid_utf8_and_keeps_valid_utf8)
{
	char *s = render(OUT_JSON, hostile);

	cr_assert_str_eq(s,
			 "{\"quote\":\"say \\\"hi\\\"\","
			 "\"backslash\":\"a\\\\b\","
			 "\"controls\":\"l1\\nl2\\r\\t\\b\\f\\u0001\\u001b\\u007f\","
			 "\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
			 "\"c1\":\"x\xc2\x85y\xc2\xa0z\","
			 "\"invalid\":\"\\u00ff\\u00c0\\u0080\\u00ed\\u00a0\\u0080\\u00e2\\u0082 "
			 "\\u00f4\\u0090\\u0080\\u0080\","
			 "\"key\\nwith \\\"odd\\\" bytes\\u00fe\":\"v\"}\n");
	cr_assert(json_doc_valid(s, strlen(s)));
	free(s);
}

Test(out_text, escapes_controls_c1_and_invalid_bytes_so_values_stay_on_their_line)
{
	char *s = render(OUT_TEXT, hostile);

	cr_assert_str_eq(s,
			 "quote: say \"hi\"\n"
			 "backslash: a\\\\b\n"
			 "controls: l1\\nl2\\r\\t\\x08\\x0c\\x01\\x1b\\x7f\n"
			 "utf8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"
			 "c1: x\\u0085y\xc2\xa0z\n"
			 "invalid: \\xff\\xc0\\x80\\xed\\xa0\\x80\\xe2\\x82 \\xf4\\x90\\x80\\x80\n"
			 "key\\nwith \"odd\" bytes\\xfe: v\n");
	free(s);
}

/* ---- errors, limits, raw ------------------------------------------------------------ */

static void error_midway(struct out *o)
{
	out_str(o, "a", "b");
	out_obj_begin(o, "c");
	out_list_begin(o, "d");
	out_error(o, "no such AOR '%s'", "sip:x\n@y");
	out_str(o, "after", "ignored");
	out_obj_end(o);
}

Test(out_text, error_discards_what_was_written_and_renders_one_error_line)
{
	char *s = render(OUT_TEXT, error_midway);

	cr_assert_str_eq(s, "error: no such AOR 'sip:x\\n@y'\n");
	free(s);
}

Test(out_json, error_discards_what_was_written_and_renders_an_error_object)
{
	char *s = render(OUT_JSON, error_midway);

	cr_assert_str_eq(s, "{\"error\":\"no such AOR 'sip:x\\n@y'\"}\n");
	cr_assert(json_doc_valid(s, strlen(s)));
	free(s);
}

Test(out, out_of_memory_turns_the_answer_into_an_error)
{
	enum out_format fmts[] = { OUT_TEXT, OUT_JSON };
	const char *want[] = { "error: out of memory\n", "{\"error\":\"out of memory\"}\n" };

	for (int i = 0; i < 2; i++) {
		struct dbuf b;
		struct out o;

		dbuf_init(&b);
		out_init(&o, &b, fmts[i]);
		out_str(&o, "a", "b");
		b.oom = true;     /* as if the next append had failed */
		out_str(&o, "c", "d");
		out_finish(&o);
		cr_assert(!b.oom);
		cr_assert_str_eq(b.data, want[i]);
		dbuf_free(&b);
	}
}

Test(dbuf, refuses_growth_past_the_limit_and_keeps_refusing_until_reset)
{
	struct dbuf b;
	char small[4] = "abc";

	dbuf_init(&b);
	dbuf_puts(&b, "x");
	/* The length is checked before a byte is read. */
	dbuf_put(&b, small, DBUF_MAX);
	cr_assert(b.oom);
	cr_assert_eq(b.len, 1);
	dbuf_put(&b, small, 3);
	cr_assert_eq(b.len, 1, "appends after oom are dropped");
	dbuf_reset(&b);
	cr_assert(!b.oom);
	dbuf_put(&b, small, 3);
	cr_assert_str_eq(b.data, "abc");
	dbuf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
}

Test(dbuf, printf_grows_past_its_first_chunk_and_consume_shifts)
{
	struct dbuf b;
	char big[1000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	dbuf_init(&b);
	dbuf_printf(&b, "<%s>", "a");
	dbuf_printf(&b, "%s|%d", big, 42);
	cr_assert_eq(b.len, 3 + 999 + 3);
	cr_assert_eq(strncmp(b.data, "<a>qq", 5), 0);
	cr_assert_str_eq(b.data + b.len - 3, "|42");
	dbuf_consume(&b, 3);
	cr_assert_eq(b.len, 999 + 3);
	cr_assert_eq(b.data[0], 'q');
	dbuf_consume(&b, 5000);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(b.data, "");
	dbuf_free(&b);
}

static void too_deep(struct out *o)
{
	for (int i = 0; i < OUT_MAX_DEPTH + 3; i++)
		out_obj_begin(o, "x");
	out_str(o, "a", "b");
	for (int i = 0; i < OUT_MAX_DEPTH + 3; i++)
		out_obj_end(o);
}

Test(out, nesting_too_deep_is_an_error_not_an_overflow)
{
	char *t = render(OUT_TEXT, too_deep);
	char *j = render(OUT_JSON, too_deep);

	cr_assert_str_eq(t, "error: output nested more than 15 levels deep\n");
	cr_assert_str_eq(j, "{\"error\":\"output nested more than 15 levels deep\"}\n");
	free(t);
	free(j);
}

static void deepest_allowed(struct out *o)
{
	for (int i = 0; i < OUT_MAX_DEPTH - 1; i++)
		out_list_begin(o, "l");
	out_u64(o, NULL, 1);
}

Test(out, the_deepest_allowed_nesting_renders_and_is_closed_by_finish)
{
	char *j = render(OUT_JSON, deepest_allowed);
	char *t = render(OUT_TEXT, deepest_allowed);

	cr_assert(json_doc_valid(j, strlen(j)));
	cr_assert_null(strstr(j, "error"));
	cr_assert_null(strstr(t, "error"));
	cr_assert_null(strstr(t, "\n\n"));
	free(j);
	free(t);
}

static void raw_with_empty_lines(struct out *o)
{
	const char raw[] = "\n# a\n\n\nb 1\n\nc 2";

	out_raw(o, raw, sizeof(raw) - 1);
}

Test(out_text, raw_text_is_copied_without_its_empty_lines_and_ends_with_newline)
{
	char *s = render(OUT_TEXT, raw_with_empty_lines);

	cr_assert_str_eq(s, "# a\nb 1\nc 2\n");
	free(s);
}

Test(out_json, raw_text_becomes_a_text_member)
{
	char *s = render(OUT_JSON, raw_with_empty_lines);

	cr_assert_str_eq(s, "{\"text\":\"\\n# a\\n\\n\\nb 1\\n\\nc 2\"}\n");
	free(s);
}

Test(out, finish_detaches_so_later_calls_change_nothing)
{
	struct dbuf b;
	struct out o;

	dbuf_init(&b);
	out_init(&o, &b, OUT_JSON);
	out_u64(&o, "a", 1);
	out_finish(&o);
	out_u64(&o, "b", 2);
	out_error(&o, "late");
	out_finish(&o);
	cr_assert_str_eq(b.data, "{\"a\":1}\n");
	dbuf_free(&b);
}

/* ---- property test: random structures, random bytes ------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void random_bytes(char *buf, size_t n)
{
	static const char special[] = "\n\r\t\"\\ \x01\x7f\xc2\x85\xff\xe2\x82\xac";

	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng();
		if (r % 3 == 0)
			buf[i] = special[(r >> 8) % (sizeof(special) - 1)];
		else if (r % 3 == 1)
			buf[i] = (char)('a' + (r >> 8) % 26);
		else
			buf[i] = (char)(r >> 8);
	}
}

static void random_doc(struct out *o)
{
	int steps = (int)(rng() % 60);
	int depth = 0;
	char key[12], val[24] = { 0 };

	for (int i = 0; i < steps; i++) {
		size_t kn = rng() % sizeof(key), vn = rng() % sizeof(val);
		const char *k = rng() % 8 ? key : NULL;

		random_bytes(key, kn);
		key[kn] = '\0';
		random_bytes(val, vn);
		switch (rng() % 11) {
		case 0:
			out_obj_begin(o, k);
			depth++;
			break;
		case 1:
			out_list_begin(o, k);
			depth++;
			break;
		case 2:
		case 3:
			if (depth) {
				if (rng() % 2)
					out_obj_end(o);
				else
					out_list_end(o);
				depth--;
			}
			break;
		case 4:
			out_tstr(o, k, tstr_make(val, vn));
			break;
		case 5:
			out_u64(o, k, rng());
			break;
		case 6:
			out_double(o, k, (double)(int64_t)rng() / 1e6, (int)(rng() % 5));
			break;
		case 7:
			out_bool(o, k, rng() % 2);
			break;
		case 8:
			/* Raw text is the caller's own text (written as is): only
			 * its empty lines are the renderer's business. */
			for (size_t r = 0; r < vn; r++)
				val[r] = rng() % 3 ? (char)('a' + rng() % 26) : '\n';
			out_raw(o, val, vn);
			break;
		case 9: {
			struct out_prom m = { key, rng() % 2 ? OUT_PROM_COUNTER : OUT_PROM_GAUGE,
					      val[0] ? "h\nx" : "" };
			struct out_label lb[1] = { { key, key } };
			out_prom_begin(o, &m);
			out_prom_sample(o, &m, lb, 1, rng());
			out_prom_end(o, &m);
			break;
		}
		default:
			if (rng() % 50 == 0)
				out_error(o, "boom %s", key);
			else
				out_str(o, k, "");
			break;
		}
	}
}

/* Every line non-empty, only '\n' as control character, valid UTF-8. */
static void check_text(const char *s, size_t len)
{
	struct jp j = { (const unsigned char *)s, (const unsigned char *)s + len };

	if (len == 0)
		return;
	cr_assert_eq(s[len - 1], '\n', "text ends with a newline");
	cr_assert_neq(s[0], '\n', "text starts with an empty line: %s", s);
	cr_assert_null(strstr(s, "\n\n"), "text has an empty line: %s", s);
	while (j.p < j.end) {
		if (*j.p < 0x20 || *j.p == 0x7f)
			cr_assert(*j.p == '\n', "control byte %#x in text: %s", *j.p, s);
		if (*j.p < 0x80)
			j.p++;
		else
			cr_assert(jp_utf8(&j), "invalid UTF-8 in text: %s", s);
	}
}

Test(out_property, random_structures_never_give_an_empty_text_line_or_invalid_json)
{
	for (uint64_t seed = 1; seed <= 3000; seed++) {
		struct dbuf b;
		struct out o;

		for (int f = 0; f < 2; f++) {
			rng_state = seed * 0x9e3779b97f4a7c15ull;
			dbuf_init(&b);
			out_init(&o, &b, f ? OUT_JSON : OUT_TEXT);
			random_doc(&o);
			out_finish(&o);
			cr_assert(!b.oom);
			if (f)
				cr_assert(json_doc_valid(b.data, b.len), "seed %llu: invalid JSON: %s",
					  (unsigned long long)seed, b.data);
			else
				check_text(b.data ? b.data : "", b.len);
			dbuf_free(&b);
		}
	}
}

/* ---- Prometheus ---------------------------------------------------------------- */

static const struct out_prom rx = { "rx_datagrams", OUT_PROM_COUNTER,
				    "SIP datagrams received" };
static const struct out_prom lag = { "replication_lag_seconds", OUT_PROM_GAUGE,
				     "Seconds behind the master" };

static void prom_doc(struct out *o)
{
	struct out_label w0[] = { { "worker", "0" } };
	struct out_label odd[] = { { "peer", "a\"b\\c\nd\xff\r" }, { "0bad-name", "x" } };

	out_prom_begin(o, &rx);
	out_prom_sample(o, &rx, w0, 1, 12);
	out_prom_sample(o, &rx, odd, 2, 18446744073709551615ull);
	out_prom_end(o, &rx);
	out_prom_begin(o, &lag);
	out_prom_sample_double(o, &lag, NULL, 0, 0.1);
	out_prom_sample_double(o, &lag, w0, 1, 1e-9);
	out_prom_sample_double(o, &lag, w0, 1, NAN);
	out_prom_sample_double(o, &lag, w0, 1, INFINITY);
	out_prom_sample_double(o, &lag, w0, 1, -INFINITY);
	out_prom_end(o, &lag);
}

Test(out_prom, renders_counters_and_gauges_in_exposition_format_0_0_4)
{
	char *s = render(OUT_TEXT, prom_doc);

	cr_assert_str_eq(s,
			 "# HELP tandem_rx_datagrams_total SIP datagrams received\n"
			 "# TYPE tandem_rx_datagrams_total counter\n"
			 "tandem_rx_datagrams_total{worker=\"0\"} 12\n"
			 "tandem_rx_datagrams_total{peer=\"a\\\"b\\\\c\\nd\xef\xbf\xbd\xef\xbf\xbd\","
			 "_0bad_name=\"x\"} 18446744073709551615\n"
			 "# HELP tandem_replication_lag_seconds Seconds behind the master\n"
			 "# TYPE tandem_replication_lag_seconds gauge\n"
			 "tandem_replication_lag_seconds 0.1\n"
			 "tandem_replication_lag_seconds{worker=\"0\"} 1e-09\n"
			 "tandem_replication_lag_seconds{worker=\"0\"} NaN\n"
			 "tandem_replication_lag_seconds{worker=\"0\"} +Inf\n"
			 "tandem_replication_lag_seconds{worker=\"0\"} -Inf\n");
	free(s);
}

Test(out_prom, renders_families_as_json_members)
{
	char *s = render(OUT_JSON, prom_doc);

	cr_assert_str_eq(s,
			 "{\"tandem_rx_datagrams_total\":{\"type\":\"counter\","
			 "\"help\":\"SIP datagrams received\",\"samples\":["
			 "{\"labels\":{\"worker\":\"0\"},\"value\":12},"
			 "{\"labels\":{\"peer\":\"a\\\"b\\\\c\\nd\\u00ff\\r\",\"_0bad_name\":\"x\"},"
			 "\"value\":18446744073709551615}]},"
			 "\"tandem_replication_lag_seconds\":{\"type\":\"gauge\","
			 "\"help\":\"Seconds behind the master\",\"samples\":["
			 "{\"value\":0.1},"
			 "{\"labels\":{\"worker\":\"0\"},\"value\":1e-09},"
			 "{\"labels\":{\"worker\":\"0\"},\"value\":null},"
			 "{\"labels\":{\"worker\":\"0\"},\"value\":null},"
			 "{\"labels\":{\"worker\":\"0\"},\"value\":null}]}}\n");
	cr_assert(json_doc_valid(s, strlen(s)));
	free(s);
}

static void prom_names(struct out *o)
{
	static const struct out_prom bad = { "bad name-é", OUT_PROM_GAUGE, "line1\nline2 \\ end" };
	static const struct out_prom total = { "things_total", OUT_PROM_COUNTER, "" };

	out_prom_metric(o, &bad, 5);
	out_prom_metric(o, &total, 6);
}

Test(out_prom, sanitises_names_escapes_help_and_never_doubles_total)
{
	char *s = render(OUT_TEXT, prom_names);

	cr_assert_str_eq(s,
			 "# HELP tandem_bad_name___ line1\\nline2 \\\\ end\n"
			 "# TYPE tandem_bad_name___ gauge\n"
			 "tandem_bad_name___ 5\n"
			 "# TYPE tandem_things_total counter\n"
			 "tandem_things_total 6\n");
	free(s);
}

Test(out_prom, doubles_are_written_in_the_shortest_exact_form)
{
	const double vals[] = { 0.1, 1.0 / 3.0, 123456789.125, 5e-324, 1.7976931348623157e308, -2.5 };

	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct dbuf b;
		struct out o;
		const char *sp;

		dbuf_init(&b);
		out_init(&o, &b, OUT_TEXT);
		out_prom_sample_double(&o, &lag, NULL, 0, vals[i]);
		out_finish(&o);
		sp = strchr(b.data, ' ');
		cr_assert_not_null(sp);
		cr_assert_eq(strtod(sp + 1, NULL), vals[i], "%s", b.data);
		dbuf_free(&b);
	}
}
