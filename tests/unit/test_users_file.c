/* SPDX-License-Identifier: MIT */
/*
 * Tests of control/users_file.c: CSV quoting and line ends, the header,
 * every kind of bad row with its line number, the callback's refusal, files
 * and buffers, and a 100 000-row file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "err.h"
#include "users_file.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the source root"
#endif

#define KEEP 8

struct got {
	unsigned long n;
	struct users_row rows[KEEP];
	unsigned long refuse_line;      /* refuse the row on this line */
	int refuse_err;
	const char *refuse_msg;
};

static int collect(const struct users_row *row, void *arg, char *err, size_t errcap)
{
	struct got *g = arg;

	if (g->refuse_line && row->line == g->refuse_line) {
		if (g->refuse_msg)
			snprintf(err, errcap, "%s", g->refuse_msg);
		return g->refuse_err;
	}
	if (g->n < KEEP)
		g->rows[g->n] = *row;
	g->n++;
	return 0;
}

static struct got got;
static char err[USERS_FILE_ERR_MAX];

/* Parse text from an exact-size heap copy (no NUL after it), so that the
 * sanitizer sees any read past the end. */
static int parse(const char *text)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	int r;

	memcpy(copy, text, len);
	memset(&got.n, 0, sizeof(got.n));
	err[0] = '\0';
	r = users_file_parse("u.csv", copy, len, collect, &got, err, sizeof(err));
	free(copy);
	return r;
}

#define assert_rows(text, n)                                                   \
	cr_assert_eq(parse(text), (n), "for:\n%s\nerror: %s", (text), err)

#define assert_bad(text, msg)                                                  \
	do {                                                                   \
		cr_assert_eq(parse(text), TDM_EMALFORMED, "for:\n%s", (text)); \
		cr_assert_str_eq(err, (msg));                                  \
	} while (0)

/* ---- good files --------------------------------------------------------- */

Test(users_file, rows_are_decoded_in_file_order)
{
	assert_rows("name,password,number,domain,display,max_contacts\n"
		    "alice,pw1,1001,Example.COM,Alice A,3\n"
		    "bob,,,,,\n",
		    2);
	cr_assert_eq(got.n, 2);
	struct users_row *a = &got.rows[0], *b = &got.rows[1];
	cr_assert_eq(a->line, 2);
	cr_assert_str_eq(a->name, "alice");
	cr_assert_str_eq(a->password, "pw1");
	cr_assert_str_eq(a->number, "1001");
	cr_assert_str_eq(a->domain, "example.com");
	cr_assert_str_eq(a->display, "Alice A");
	cr_assert_eq(a->max_contacts, 3);
	cr_assert_eq(a->columns, USERS_COL_NAME | USERS_COL_PASSWORD | USERS_COL_NUMBER |
					 USERS_COL_DOMAIN | USERS_COL_DISPLAY |
					 USERS_COL_MAX_CONTACTS);
	cr_assert_eq(b->line, 3);
	cr_assert_str_eq(b->name, "bob");
	cr_assert_str_eq(b->password, "");
	cr_assert_str_eq(b->number, "");
	cr_assert_eq(b->max_contacts, 0);
}

Test(users_file, columns_may_come_in_any_order_and_only_name_is_required)
{
	assert_rows("number,name\n+4930123,carol\n", 1);
	cr_assert_str_eq(got.rows[0].name, "carol");
	cr_assert_str_eq(got.rows[0].number, "+4930123");
	cr_assert_str_eq(got.rows[0].password, "");
	cr_assert_eq(got.rows[0].columns, USERS_COL_NAME | USERS_COL_NUMBER);

	assert_rows("name\ndave\neve\n", 2);
	cr_assert_str_eq(got.rows[1].name, "eve");
	cr_assert_eq(got.rows[1].columns, USERS_COL_NAME);
}

Test(users_file, header_names_ignore_case_and_may_be_quoted)
{
	assert_rows("\"Name\",PASSWORD,Max_Contacts\nx,y,5\n", 1);
	cr_assert_str_eq(got.rows[0].password, "y");
	cr_assert_eq(got.rows[0].max_contacts, 5);
}

Test(users_file, quoted_fields_hold_commas_quotes_and_spaces)
{
	assert_rows("name,password,display\n"
		    "alice,\"a,b \"\"c\"\" \",\"  Alice, Queen  \"\n"
		    "\"bob\",\"\",\"\"\"\"\n",
		    2);
	cr_assert_str_eq(got.rows[0].password, "a,b \"c\" ");
	cr_assert_str_eq(got.rows[0].display, "  Alice, Queen  ");
	cr_assert_str_eq(got.rows[1].name, "bob");
	cr_assert_str_eq(got.rows[1].password, "");
	cr_assert_str_eq(got.rows[1].display, "\"");
}

Test(users_file, spaces_are_part_of_a_field_as_rfc4180_says)
{
	assert_rows("name,password\nalice, secret \n", 1);
	cr_assert_str_eq(got.rows[0].password, " secret ");
	assert_bad("name,password\n alice,x\n",
		   "u.csv:2: name ' alice' may only contain letters, digits, '.', '_', '+' and '-'");
}

Test(users_file, crlf_lf_and_no_final_line_end_are_all_accepted)
{
	assert_rows("name,password\r\na,1\r\nb,2\r\n", 2);
	cr_assert_str_eq(got.rows[1].password, "2");
	assert_rows("name,password\na,1\nb,2", 2);
	cr_assert_str_eq(got.rows[1].password, "2");
	assert_rows("name,password\r\na,1\r\nb,\"2\"", 2);
	cr_assert_str_eq(got.rows[1].password, "2");
	assert_rows("name,password\r\na,1\r\nb,2\r", 2);
	cr_assert_str_eq(got.rows[1].password, "2");
	assert_rows("name\n", 0);
	assert_rows("name", 0);
}

Test(users_file, comments_blank_lines_and_a_byte_order_mark_are_skipped)
{
	assert_rows("\xef\xbb\xbf# users of the lab\n"
		    "\n"
		    "name,number\n"
		    "# first\n"
		    "alice,1\n"
		    "\r\n"
		    "   \n"
		    "bob,2\n"
		    "\n"
		    "\n",
		    2);
	cr_assert_eq(got.rows[0].line, 5);
	cr_assert_eq(got.rows[1].line, 8);
}

Test(users_file, name_number_domain_and_display_take_their_full_length)
{
	char text[1024], name[USER_NAME_MAX], number[USER_NUMBER_MAX], display[USER_DISPLAY_MAX];
	char pw[USERS_PASSWORD_MAX];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(number, '7', sizeof(number) - 1);
	number[sizeof(number) - 1] = '\0';
	memset(display, 'D', sizeof(display) - 1);
	display[sizeof(display) - 1] = '\0';
	memset(pw, 'p', sizeof(pw) - 1);
	pw[sizeof(pw) - 1] = '\0';
	snprintf(text, sizeof(text), "name,number,display,password\n%s,%s,%s,%s\n", name, number,
		 display, pw);
	assert_rows(text, 1);
	cr_assert_str_eq(got.rows[0].name, name);
	cr_assert_str_eq(got.rows[0].number, number);
	cr_assert_str_eq(got.rows[0].display, display);
	cr_assert_str_eq(got.rows[0].password, pw);
}

Test(users_file, accepted_name_number_and_domain_forms)
{
	assert_rows("name,number,domain\n"
		    "a.b_c+d-e,*21#,192.0.2.1\n"
		    "1001,1001,[2001:DB8::1]\n"
		    "Z,+1,sip.example.org\n",
		    3);
	cr_assert_str_eq(got.rows[1].domain, "[2001:db8::1]");
	/* A user's own number may equal its own name. */
	cr_assert_str_eq(got.rows[1].number, "1001");
}

Test(users_file, max_contacts_range)
{
	assert_rows("name,max_contacts\na,0\nb,64\nc,\n", 3);
	cr_assert_eq(got.rows[1].max_contacts, 64);
	cr_assert_eq(got.rows[2].max_contacts, 0);
	assert_bad("name,max_contacts\na,65\n",
		   "u.csv:2: max_contacts '65' is not a whole number from 0 to 64");
	assert_bad("name,max_contacts\na,-1\n",
		   "u.csv:2: max_contacts '-1' is not a whole number from 0 to 64");
	assert_bad("name,max_contacts\na,x\n",
		   "u.csv:2: max_contacts 'x' is not a whole number from 0 to 64");
	assert_bad("name,max_contacts\na, 1\n",
		   "u.csv:2: max_contacts ' 1' is not a whole number from 0 to 64");
	assert_bad("name,max_contacts\na,12345678901234567\n",
		   "u.csv:2: max_contacts too long (17 bytes, at most 15)");
}

/* ---- the header --------------------------------------------------------- */

Test(users_file, header_errors)
{
	assert_bad("name,passwd\n", "u.csv:1: unknown column 'passwd' (did you mean 'password'?)");
	assert_bad("alice,secret\n",
		   "u.csv:1: unknown column 'alice' (the first line must be a header naming the "
		   "columns: name, password, number, domain, display, max_contacts)");
	assert_bad("# c\nname,number,Number\n", "u.csv:2: column 'number' appears twice in the header");
	assert_bad("password,number\n", "u.csv:1: the header has no 'name' column");
	assert_bad("name,,number\n", "u.csv:1: header: column 2 has no name");
	assert_bad("name,\n", "u.csv:1: header: column 2 has no name");
	assert_bad("", "u.csv: no header line (the first line names the columns, e.g. name,password,number)");
	assert_bad("# only a comment\n\n",
		   "u.csv: no header line (the first line names the columns, e.g. name,password,number)");
	assert_bad("name,\"pass\n",
		   "u.csv:1: header: unterminated quoted field");
	assert_bad("name,a\"b\n",
		   "u.csv:1: header: a '\"' inside an unquoted field (quote the whole field and double the '\"')");
	cr_assert_eq(parse("name,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
		     TDM_EMALFORMED);
	cr_assert(strstr(err, "unknown column 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), "%s", err);
}

/* ---- bad rows, each with its line --------------------------------------- */

Test(users_file, wrong_field_counts)
{
	assert_bad("name,password,number\n\nalice,pw\n", "u.csv:3: 2 fields, the header has 3");
	assert_bad("name,password\na,b,c\n", "u.csv:2: 3 fields, the header has 2");
	assert_bad("name,password\na\n", "u.csv:2: 1 field, the header has 2");
	assert_bad("name\na,\n", "u.csv:2: 2 fields, the header has 1");
	cr_assert_eq(got.n, 0);
}

Test(users_file, bad_names)
{
	assert_bad("name,password\n,pw\n", "u.csv:2: empty name");
	assert_bad("name\n\"\"\n", "u.csv:2: empty name");
	assert_bad("name\nal ice\n",
		   "u.csv:2: name 'al ice' may only contain letters, digits, '.', '_', '+' and '-'");
	assert_bad("name\nal@ice\n",
		   "u.csv:2: name 'al@ice' may only contain letters, digits, '.', '_', '+' and '-'");
	assert_bad("name\n\"a\nb\"\n",
		   "u.csv:2: name 'a?b' may only contain letters, digits, '.', '_', '+' and '-'");
	assert_bad("name\n_STANDBY_\n",
		   "u.csv:2: name '_STANDBY_' starts with '_': such names are reserved for the "
		   "pair's peers (_STANDBY_, _ACTIVE_)");
	assert_bad("name\nh\xc3\xa9llo\n",
		   "u.csv:2: name 'h\xc3\xa9llo' may only contain letters, digits, '.', '_', '+' and '-'");
}

Test(users_file, fields_too_long_for_the_users_table)
{
	char text[2048], big[300];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	snprintf(text, sizeof(text), "name\nok\n%.64s\n", big);
	assert_bad(text, "u.csv:3: name too long (64 bytes, at most 63)");
	cr_assert_eq(got.n, 1, "the rows before the bad one are delivered");
	snprintf(text, sizeof(text), "name,number\na,%.32s\n", "123456789012345678901234567890123");
	assert_bad(text, "u.csv:2: number too long (32 bytes, at most 31)");
	snprintf(text, sizeof(text), "name,domain\na,%.128s\n", big);
	assert_bad(text, "u.csv:2: domain too long (128 bytes, at most 127)");
	snprintf(text, sizeof(text), "name,display\na,\"%.128s\"\n", big);
	assert_bad(text, "u.csv:2: display too long (128 bytes, at most 127)");
	snprintf(text, sizeof(text), "name,password\na,%.256s\n", big);
	assert_bad(text, "u.csv:2: password too long (256 bytes, at most 255)");
}

Test(users_file, bad_numbers_domains_and_control_characters)
{
	assert_bad("name,number\na,12a\n",
		   "u.csv:2: number '12a' may only contain digits, '*' and '#', after an optional "
		   "leading '+'");
	assert_bad("name,number\na,+\n",
		   "u.csv:2: number '+' may only contain digits, '*' and '#', after an optional "
		   "leading '+'");
	assert_bad("name,number\na,1+2\n",
		   "u.csv:2: number '1+2' may only contain digits, '*' and '#', after an optional "
		   "leading '+'");
	assert_bad("name,domain\na,exa mple.com\n",
		   "u.csv:2: domain 'exa mple.com' is not a host name or IP address");
	assert_bad("name,domain\na,example.com:5060\n",
		   "u.csv:2: domain 'example.com:5060' is not a host name or IP address");
	assert_bad("name,password\na,\"x\ny\"\n", "u.csv:2: the password contains a control character");
	assert_bad("name,password\na,x\x7fy\n", "u.csv:2: the password contains a control character");
	assert_bad("name,display\na,\"A\tB\"\n", "u.csv:2: the display name contains a control character");
}

Test(users_file, a_nul_byte_in_a_field_is_refused)
{
	static const char text[] = "name,password\nalice,x\0y\n";

	cr_assert_eq(users_file_parse("u.csv", text, sizeof(text) - 1, collect, &got, err,
				      sizeof(err)),
		     TDM_EMALFORMED);
	cr_assert_str_eq(err, "u.csv:2: a NUL byte (is this a text file?)");
	static const char quoted[] = "name\n\"a\0\"\n";
	cr_assert_eq(users_file_parse("u.csv", quoted, sizeof(quoted) - 1, collect, &got, err,
				      sizeof(err)),
		     TDM_EMALFORMED);
	cr_assert_str_eq(err, "u.csv:2: a NUL byte (is this a text file?)");
}

Test(users_file, quoting_errors)
{
	assert_bad("name,password\na,\"open\n", "u.csv:2: unterminated quoted field");
	assert_bad("name,password\na,\"x\"y\n", "u.csv:2: unexpected text after a closing quote");
	assert_bad("name,password\na,x\"y\n",
		   "u.csv:2: a '\"' inside an unquoted field (quote the whole field and double the '\"')");
	assert_bad("name,password\na,\"x\" \n", "u.csv:2: unexpected text after a closing quote");
}

Test(users_file, duplicates_and_name_number_clashes)
{
	assert_bad("name,number\nalice,1\nbob,2\n# c\nalice,3\n",
		   "u.csv:5: duplicate name 'alice' (first on line 2)");
	assert_bad("name,number\nalice,1\nbob,2\ncarol,1\n",
		   "u.csv:4: duplicate number '1' (first on line 2)");
	assert_bad("name,number\nalice,1001\n1001,2\n",
		   "u.csv:3: name '1001' is the number of the user on line 2");
	assert_bad("name,number\n1001,7\nalice,1001\n",
		   "u.csv:3: number '1001' is the name of the user on line 2");
	/* Quoted and unquoted spellings of one name are the same name. */
	assert_bad("name\n\"alice\"\nbob\nalice\n",
		   "u.csv:4: duplicate name 'alice' (first on line 2)");
	assert_bad("name,number\na,\"1001\"\nb,1001\n",
		   "u.csv:3: duplicate number '1001' (first on line 2)");
	/* Names are case-sensitive, like SIP user parts. */
	assert_rows("name\nAlice\nalice\n", 2);
}

Test(users_file, line_numbers_count_lines_inside_quoted_fields)
{
	/* A quoted multi-line display is refused, on the line where the row starts. */
	assert_bad("name,display\na,x\nb,\"two\nlines\"\nc,y\n",
		   "u.csv:3: the display name contains a control character");
	assert_bad("name,password\na,\"x\"\"\n\nb,1\n", "u.csv:2: unterminated quoted field");
}

/* ---- the callback ------------------------------------------------------- */

Test(users_file, the_callback_can_refuse_a_row_with_a_reason)
{
	got.refuse_line = 3;
	got.refuse_err = TDM_EEXISTS;
	got.refuse_msg = "user 'bob' already exists";
	cr_assert_eq(parse("name\nalice\nbob\ncarol\n"), TDM_EEXISTS);
	cr_assert_str_eq(err, "u.csv:3: user 'bob' already exists");
	cr_assert_eq(got.n, 1);
	cr_assert_str_eq(got.rows[0].name, "alice");
}

Test(users_file, a_refusal_without_a_reason_names_the_error)
{
	got.refuse_line = 2;
	got.refuse_err = TDM_ELIMIT;
	got.refuse_msg = NULL;
	cr_assert_eq(parse("name\nalice\n"), TDM_ELIMIT);
	char want[128];
	snprintf(want, sizeof(want), "u.csv:2: %s", tdm_strerror(TDM_ELIMIT));
	cr_assert_str_eq(err, want);
}

Test(users_file, null_error_buffer_is_accepted)
{
	cr_assert_eq(users_file_parse("x", "name\n,\n", 7, collect, &got, NULL, 0), TDM_EMALFORMED);
	cr_assert_eq(users_file_parse("x", "name\na\n", 7, collect, &got, NULL, 0), 1);
}

Test(users_file, a_small_error_buffer_is_never_overrun)
{
	char small[12];

	memset(small, 'Z', sizeof(small));
	cr_assert_eq(users_file_parse("users.csv", "name\n,\n", 7, collect, &got, small, 8),
		     TDM_EMALFORMED);
	cr_assert_str_eq(small, "users.c");
	cr_assert_eq(small[8], 'Z');
}

/* ---- files -------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tandem-users-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

Test(users_file, read_a_file_and_report_a_missing_one)
{
	char path[128], want[256];
	FILE *f;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/users.csv", tmpdir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("name,password\nalice,a\nbob,\"b,c\"\n", f);
	fclose(f);
	memset(&got, 0, sizeof(got));
	cr_assert_eq(users_file_read(path, collect, &got, err, sizeof(err)), 2, "%s", err);
	cr_assert_str_eq(got.rows[1].password, "b,c");

	f = fopen(path, "w");
	fputs("name\nalice\nalice\n", f);
	fclose(f);
	cr_assert_eq(users_file_read(path, collect, &got, err, sizeof(err)), TDM_EMALFORMED);
	snprintf(want, sizeof(want), "%s:3: duplicate name 'alice' (first on line 2)", path);
	cr_assert_str_eq(err, want);

	f = fopen(path, "w");
	fclose(f);
	cr_assert_eq(users_file_read(path, collect, &got, err, sizeof(err)), TDM_EMALFORMED);
	cr_assert(strstr(err, "no header line"), "%s", err);
	unlink(path);

	cr_assert_eq(users_file_read(path, collect, &got, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot read: %s", path, tdm_strerror(-ENOENT));
	cr_assert_str_eq(err, want);
	cr_assert_eq(users_file_read(tmpdir, collect, &got, err, sizeof(err)), -EISDIR);
	rmdir(tmpdir);
}

Test(users_file, the_example_users_file_reads)
{
	memset(&got, 0, sizeof(got));
	cr_assert_eq(users_file_read(SOURCE_DIR "/examples/users.csv", collect, &got, err,
				     sizeof(err)),
		     4, "%s", err);
	cr_assert_str_eq(got.rows[0].name, "alice");
	cr_assert(got.rows[0].password[0] != '\0');
	cr_assert_str_eq(got.rows[1].password, "b0b, the builder");
	cr_assert_str_eq(got.rows[1].display, "Bob \"the builder\"");
}

static int count_only(const struct users_row *row, void *arg, char *e, size_t cap)
{
	unsigned long *n = arg;

	(*n)++;
	if (row->line != *n + 1) {
		snprintf(e, cap, "row %lu on line %lu", *n, row->line);
		return TDM_EPROTO;
	}
	return 0;
}

Test(users_file, a_100000_row_file_reads_in_one_pass, .timeout = 120)
{
	const unsigned rows = 100000;
	char path[128];
	unsigned long n = 0;
	FILE *f;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/big.csv", tmpdir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("name,password,number,display,max_contacts\n", f);
	for (unsigned i = 0; i < rows; i++)
		fprintf(f, "user%u,\"pw,%u\",%u,\"User %u\",%u\n", i, i, 100000000 + i, i, i % 65);
	fclose(f);

	cr_assert_eq(users_file_read(path, count_only, &n, err, sizeof(err)), (int)rows, "%s", err);
	cr_assert_eq(n, rows);

	/* A duplicate at the very end is found, with the first line. */
	f = fopen(path, "a");
	fputs("user5,x,,,\n", f);
	fclose(f);
	n = 0;
	cr_assert_eq(users_file_read(path, count_only, &n, err, sizeof(err)), TDM_EMALFORMED);
	cr_assert_eq(n, rows);
	char want[256];
	snprintf(want, sizeof(want), "%s:%u: duplicate name 'user5' (first on line 7)", path, rows + 2);
	cr_assert_str_eq(err, want);
	unlink(path);
	rmdir(tmpdir);
}

/* ---- hostile input ------------------------------------------------------ */

static int accept_all(const struct users_row *row, void *arg, char *e, size_t cap)
{
	(*(unsigned long *)arg)++;
	return 0;
}

Test(users_file, random_bytes_never_crash)
{
	static const char *const tokens[] = {
		"name", "password", "number", "domain", "display", "max_contacts", ",", "\"", "\"\"",
		"\n", "\r\n", "\r", "#", "a", "1", "+", "_", " ", "64", "\x00", "\xff", "[::1]",
		"example.com", "alice", "bob",
	};
	char *buf = malloc(2048);
	unsigned seed = 99;

	for (int iter = 0; iter < 5000; iter++) {
		size_t n = 0;
		unsigned long rows = 0;
		int r;

		while (n < 1900) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 61 == 0)
				break;
			unsigned t = (seed >> 8) % (sizeof(tokens) / sizeof(tokens[0]));
			size_t l = t == 19 ? 1 : strlen(tokens[t]);
			memcpy(buf + n, tokens[t], l);
			n += l;
		}
		/* The parser reads exactly n bytes of a buffer of that size. */
		char *exact = malloc(n ? n : 1);
		memcpy(exact, buf, n);
		r = users_file_parse("r.csv", exact, n, accept_all, &rows, err, sizeof(err));
		free(exact);
		cr_assert(r >= 0 || r == TDM_EMALFORMED, "r=%d %s", r, err);
		if (r >= 0)
			cr_assert_eq((unsigned long)r, rows);
		else
			cr_assert(strncmp(err, "r.csv", 5) == 0, "%s", err);
	}
	free(buf);
}
