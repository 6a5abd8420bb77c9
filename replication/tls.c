/* SPDX-License-Identifier: MIT */
/*
 * The link's TLS (see tls.h): the node's identity files, TLS 1.3 contexts,
 * sessions with our own socket callbacks (so that a reset or a close is
 * reported with its errno rather than as "socket error"), the exporter and
 * fingerprints.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/openssl/pem.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "err.h"
#include "login.h"
#include "tls.h"

#define DER_MAX 4096
#define PEM_MAX 8192

struct tls_ctx {
	WOLFSSL_CTX *ctx;
	char fingerprint[TLS_FPR_STRLEN];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void tls_init(void)
{
	init_rc = wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : -EIO;
}

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- files --------------------------------------------------------------- */

/* Read a whole (small) file, NUL-terminated. *out is malloc'ed. */
static int read_file(const char *path, const char *what, uint8_t **out,
		     size_t *len, char *err, size_t cap)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, cap, -errno, "%s %s: cannot open: %s", what, path,
			    strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = fail(err, cap, -errno, "%s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(err, cap, TDM_ECONFIG, "%s %s: not a regular file", what, path);
		goto out;
	}
	if ((size_t)st.st_size > TLS_FILE_MAX) {
		rc = fail(err, cap, TDM_ECONFIG, "%s %s: %lld bytes, larger than "
			  "any PEM key or certificate", what, path, (long long)st.st_size);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = fail(err, cap, -ENOMEM, "%s %s: out of memory", what, path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail(err, cap, -errno, "%s %s: cannot read: %s", what, path,
				  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* Write path through path.tmp + fsync + rename, with this mode. */
static int write_file_atomic(const char *path, const char *what, const void *data,
			     size_t len, mode_t mode, char *err, size_t cap)
{
	char tmp[PATH_MAX];
	const uint8_t *p = data;
	size_t done = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return fail(err, cap, -ENAMETOOLONG, "%s %s: path too long", what, path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return fail(err, cap, -errno, "%s %s: cannot create: %s", what, tmp,
			    strerror(errno));
	/* The umask may have taken bits away; set exactly what we mean. */
	if (fchmod(fd, mode) < 0)
		goto io_error;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto io_error;
		done += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto io_error;
	if (close(fd) < 0) {
		fd = -1;
		goto io_error;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto io_error;
	return 0;
io_error:
	{
		int e = errno;

		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return fail(err, cap, -e, "%s %s: cannot write: %s", what, path,
			    strerror(e));
	}
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		/* Best effort: the files themselves are synced already. */
		(void)fsync(fd);
		close(fd);
	}
}

/* 0: exists, 1: does not exist, <0: cannot tell (err set). */
static int missing(const char *path, const char *what, char *err, size_t cap)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return 0;
	if (errno == ENOENT)
		return 1;
	return fail(err, cap, -errno, "%s %s: %s", what, path, strerror(errno));
}

/* ---- identity -------------------------------------------------------------- */

static int make_key(WC_RNG *rng, ecc_key *key, const char *path, char *err, size_t cap)
{
	uint8_t der[DER_MAX];
	uint8_t pem[PEM_MAX];
	int dlen, plen, rc;

	if (wc_ecc_make_key_ex(rng, 32, key, ECC_SECP256R1) != 0)
		return fail(err, cap, -EIO, "TLS key %s: cannot generate an ECDSA "
			    "P-256 key", path);
	dlen = wc_EccKeyToDer(key, der, sizeof(der));
	if (dlen <= 0)
		return fail(err, cap, -EIO, "TLS key %s: cannot encode the key", path);
	plen = wc_DerToPem(der, (word32)dlen, pem, sizeof(pem), ECC_PRIVATEKEY_TYPE);
	memset(der, 0, sizeof(der));
	if (plen <= 0)
		return fail(err, cap, -EIO, "TLS key %s: cannot encode the key", path);
	rc = write_file_atomic(path, "TLS key", pem, (size_t)plen, 0600, err, cap);
	memset(pem, 0, sizeof(pem));
	return rc;
}

static int load_key(ecc_key *key, const char *path, char *err, size_t cap)
{
	uint8_t *pem = NULL;
	uint8_t der[DER_MAX];
	size_t plen = 0;
	word32 idx = 0;
	int dlen, rc;

	rc = read_file(path, "TLS key", &pem, &plen, err, cap);
	if (rc < 0)
		return rc;
	dlen = wc_KeyPemToDer(pem, (int)plen, der, sizeof(der), NULL);
	memset(pem, 0, plen);
	free(pem);
	if (dlen <= 0)
		return fail(err, cap, TDM_ECONFIG, "TLS key %s: not a PEM private key",
			    path);
	rc = wc_EccPrivateKeyDecode(der, &idx, key, (word32)dlen);
	memset(der, 0, sizeof(der));
	if (rc != 0)
		return fail(err, cap, TDM_ECONFIG, "TLS key %s: not an ECDSA key (only "
			    "an ECDSA key can be given a generated certificate; "
			    "set [pair] tls_cert and tls_key for other keys)", path);
	return 0;
}

static int make_cert(WC_RNG *rng, ecc_key *key, const char *name, const char *path,
		     char *err, size_t cap)
{
	Cert *cert;
	uint8_t *der = NULL;
	uint8_t pem[PEM_MAX];
	int len, plen, rc;

	cert = malloc(sizeof(*cert));
	der = malloc(DER_MAX);
	if (!cert || !der) {
		rc = fail(err, cap, -ENOMEM, "TLS certificate %s: out of memory", path);
		goto out;
	}
	if (wc_InitCert(cert) != 0) {
		rc = fail(err, cap, -EIO, "TLS certificate %s: cannot initialise", path);
		goto out;
	}
	snprintf(cert->subject.commonName, sizeof(cert->subject.commonName), "%s", name);
	cert->subject.commonNameEnc = CTC_UTF8;
	cert->daysValid = TLS_CERT_DAYS;
	cert->sigType = CTC_SHA256wECDSA;
	cert->isCA = 0;
	cert->selfSigned = 1;
	/* A positive 16-byte random serial number (RFC 5280 §4.1.2.2). */
	if (wc_RNG_GenerateBlock(rng, cert->serial, 16) != 0) {
		rc = fail(err, cap, -EIO, "TLS certificate %s: no randomness", path);
		goto out;
	}
	cert->serial[0] = (uint8_t)((cert->serial[0] & 0x7f) | 0x40);
	cert->serialSz = 16;
	len = wc_MakeCert(cert, der, DER_MAX, NULL, key, rng);
	if (len > 0)
		len = wc_SignCert(cert->bodySz, cert->sigType, der, DER_MAX, NULL, key, rng);
	if (len <= 0) {
		rc = fail(err, cap, -EIO, "TLS certificate %s: cannot make the "
			  "certificate (error %d)", path, len);
		goto out;
	}
	plen = wc_DerToPem(der, (word32)len, pem, sizeof(pem), CERT_TYPE);
	if (plen <= 0) {
		rc = fail(err, cap, -EIO, "TLS certificate %s: cannot encode", path);
		goto out;
	}
	rc = write_file_atomic(path, "TLS certificate", pem, (size_t)plen, 0644, err, cap);
out:
	free(der);
	free(cert);
	return rc;
}

int tls_identity_ensure(const char *data_dir, const char *name,
			char *cert_path, char *key_path, bool *generated,
			char *err, size_t errcap)
{
	WC_RNG rng;
	ecc_key key;
	int kmiss, cmiss, rc;

	*generated = false;
	pthread_once(&init_once, tls_init);
	if (init_rc < 0)
		return fail(err, errcap, init_rc, "cannot initialise wolfSSL");
	if ((size_t)snprintf(key_path, PATH_MAX, "%s/%s", data_dir, TLS_KEY_FILE) >= PATH_MAX ||
	    (size_t)snprintf(cert_path, PATH_MAX, "%s/%s", data_dir, TLS_CERT_FILE) >= PATH_MAX)
		return fail(err, errcap, -ENAMETOOLONG, "[node] data_dir %s: path too "
			    "long", data_dir);
	kmiss = missing(key_path, "TLS key", err, errcap);
	if (kmiss < 0)
		return kmiss;
	cmiss = missing(cert_path, "TLS certificate", err, errcap);
	if (cmiss < 0)
		return cmiss;
	if (!kmiss && !cmiss)
		return 0;
	if (kmiss && !cmiss)
		return fail(err, errcap, TDM_ECONFIG, "TLS certificate %s exists without "
			    "its key %s: restore the key, or remove the certificate to "
			    "have a new pair generated", cert_path, key_path);
	if (name[0] == '\0' || strlen(name) >= CTC_NAME_SIZE)
		return fail(err, errcap, TDM_ECONFIG, "node name '%s' cannot be a "
			    "certificate common name", name);

	if (wc_InitRng(&rng) != 0)
		return fail(err, errcap, -EIO, "cannot initialise the random generator");
	if (wc_ecc_init(&key) != 0) {
		wc_FreeRng(&rng);
		return fail(err, errcap, -EIO, "cannot initialise an ECC key");
	}
	if (kmiss)
		rc = make_key(&rng, &key, key_path, err, errcap);
	else
		rc = load_key(&key, key_path, err, errcap);
	if (rc == 0)
		rc = make_cert(&rng, &key, name, cert_path, err, errcap);
	wc_ecc_free(&key);
	wc_FreeRng(&rng);
	if (rc == 0) {
		sync_dir(data_dir);
		*generated = true;
	}
	return rc;
}

/* ---- contexts ---------------------------------------------------------------- */

static void fingerprint_der(const uint8_t *der, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t h[WC_SHA256_DIGEST_SIZE];
	size_t o = 0;

	if (cap < TLS_FPR_STRLEN || wc_Sha256Hash(der, (word32)len, h) != 0) {
		if (cap)
			out[0] = '\0';
		return;
	}
	for (size_t i = 0; i < sizeof(h); i++) {
		if (i)
			out[o++] = ':';
		out[o++] = hex[h[i] >> 4];
		out[o++] = hex[h[i] & 15];
	}
	out[o] = '\0';
}

/* Certificates are not verified (there is no CA, see tls.h): a peer's
 * certificate is accepted as it is, and kept for its fingerprint. */
static int accept_any(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	(void)preverify;
	(void)store;
	return 1;
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_io *io = arg;
	ssize_t n;

	(void)ssl;
	do
		n = recv(io->fd, buf, (size_t)sz, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		io->wire_in += (uint64_t)n;
		return (int)n;
	}
	if (n == 0) {
		io->eof = true;
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	io->last_errno = errno;
	return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_io *io = arg;
	ssize_t n;

	(void)ssl;
	do
		n = send(io->fd, buf, (size_t)sz, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		io->wire_out += (uint64_t)n;
		return (int)n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	io->last_errno = errno;
	if (errno == EPIPE)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
}

/*
 * Whether key is the private half of cert's public key: sign a message with
 * one and verify with the other (wolfSSL_CTX_check_private_key of wolfSSL
 * 5.5 accepts a mismatched ECDSA pair). Returns 1 (match), 0 (mismatch) or
 * -1 when this key type cannot be checked here (then wolfSSL's own check
 * is all there is).
 */
static int key_matches_cert(const uint8_t *cert, size_t clen, const uint8_t *key,
			    size_t klen)
{
	static const char msg[] = "tandem key check";
	WOLFSSL_X509 *x = NULL;
	WOLFSSL_EVP_PKEY *pub = NULL, *priv = NULL;
	WOLFSSL_BIO *bio = NULL;
	WOLFSSL_EVP_MD_CTX *sctx = NULL, *vctx = NULL;
	unsigned char sig[1024];
	size_t slen = sizeof(sig);
	int rc = -1;

	x = wolfSSL_X509_load_certificate_buffer(cert, (int)clen, WOLFSSL_FILETYPE_PEM);
	if (x)
		pub = wolfSSL_X509_get_pubkey(x);
	bio = wolfSSL_BIO_new_mem_buf(key, (int)klen);
	if (bio)
		priv = wolfSSL_PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	sctx = wolfSSL_EVP_MD_CTX_new();
	vctx = wolfSSL_EVP_MD_CTX_new();
	if (!pub || !priv || !sctx || !vctx)
		goto out;
	if (wolfSSL_EVP_DigestSignInit(sctx, NULL, wolfSSL_EVP_sha256(), NULL, priv) != 1 ||
	    wolfSSL_EVP_DigestSignUpdate(sctx, msg, sizeof(msg) - 1) != 1 ||
	    wolfSSL_EVP_DigestSignFinal(sctx, sig, &slen) != 1 ||
	    wolfSSL_EVP_DigestVerifyInit(vctx, NULL, wolfSSL_EVP_sha256(), NULL, pub) != 1 ||
	    wolfSSL_EVP_DigestVerifyUpdate(vctx, msg, sizeof(msg) - 1) != 1)
		goto out;
	rc = wolfSSL_EVP_DigestVerifyFinal(vctx, sig, slen) == 1 ? 1 : 0;
out:
	wolfSSL_EVP_MD_CTX_free(sctx);
	wolfSSL_EVP_MD_CTX_free(vctx);
	wolfSSL_EVP_PKEY_free(pub);
	wolfSSL_EVP_PKEY_free(priv);
	wolfSSL_BIO_free(bio);
	wolfSSL_X509_free(x);
	return rc;
}

static void ctx_error(char *buf, size_t cap)
{
	unsigned long e = wolfSSL_ERR_get_error();

	if (e)
		wolfSSL_ERR_error_string_n(e, buf, cap);
	else
		snprintf(buf, cap, "unknown reason");
}

int tls_ctx_create(bool server, const char *cert_path, const char *key_path,
		   struct tls_ctx **out, char *err, size_t errcap)
{
	struct tls_ctx *t;
	uint8_t *cert = NULL, *key = NULL;
	size_t clen = 0, klen = 0;
	uint8_t *der = NULL;
	int dlen, rc;
	char why[128];

	*out = NULL;
	pthread_once(&init_once, tls_init);
	if (init_rc < 0)
		return fail(err, errcap, init_rc, "cannot initialise wolfSSL");
	t = calloc(1, sizeof(*t));
	if (!t)
		return fail(err, errcap, -ENOMEM, "out of memory");
	t->ctx = wolfSSL_CTX_new(server ? wolfTLSv1_3_server_method()
					: wolfTLSv1_3_client_method());
	if (!t->ctx) {
		rc = fail(err, errcap, -ENOMEM, "cannot create a TLS context");
		goto out;
	}

	rc = read_file(cert_path, "TLS certificate", &cert, &clen, err, errcap);
	if (rc < 0)
		goto out;
	rc = read_file(key_path, "TLS key", &key, &klen, err, errcap);
	if (rc < 0)
		goto out;
	wolfSSL_ERR_clear_error();
	if (wolfSSL_CTX_use_certificate_chain_buffer_format(t->ctx, cert, (long)clen,
							    WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		ctx_error(why, sizeof(why));
		rc = fail(err, errcap, TDM_ECONFIG, "TLS certificate %s: not a usable "
			  "PEM certificate (%s)", cert_path, why);
		goto out;
	}
	if (wolfSSL_CTX_use_PrivateKey_buffer(t->ctx, key, (long)klen,
					      WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		ctx_error(why, sizeof(why));
		rc = fail(err, errcap, TDM_ECONFIG, "TLS key %s: not a usable PEM "
			  "private key, or an encrypted one (%s)", key_path, why);
		goto out;
	}
	if (wolfSSL_CTX_check_private_key(t->ctx) != WOLFSSL_SUCCESS ||
	    key_matches_cert(cert, clen, key, klen) == 0) {
		rc = fail(err, errcap, TDM_ECONFIG, "TLS key %s does not match the "
			  "certificate %s", key_path, cert_path);
		goto out;
	}
	der = malloc(clen + 1);
	if (!der) {
		rc = fail(err, errcap, -ENOMEM, "out of memory");
		goto out;
	}
	dlen = wc_CertPemToDer(cert, (int)clen, der, (int)clen + 1, CERT_TYPE);
	if (dlen <= 0) {
		rc = fail(err, errcap, TDM_ECONFIG, "TLS certificate %s: not a PEM "
			  "certificate", cert_path);
		goto out;
	}
	fingerprint_der(der, (size_t)dlen, t->fingerprint, sizeof(t->fingerprint));

	/* TLS 1.3 only (the methods above), no resumption: every connection
	 * does a full handshake, so every login has a fresh exporter. */
	wolfSSL_CTX_set_session_cache_mode(t->ctx, WOLFSSL_SESS_CACHE_OFF);
	if (server) {
		wolfSSL_CTX_no_ticket_TLSv13(t->ctx);
		/* Ask for the standby's certificate (for its fingerprint) but
		 * neither require nor verify it. */
		wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_PEER, accept_any);
	} else {
		wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_NONE, NULL);
	}
	wolfSSL_CTX_SetIORecv(t->ctx, io_recv);
	wolfSSL_CTX_SetIOSend(t->ctx, io_send);
	*out = t;
	t = NULL;
	rc = 0;
out:
	free(der);
	free(cert);
	if (key) {
		memset(key, 0, klen);
		free(key);
	}
	tls_ctx_destroy(t);
	return rc;
}

void tls_ctx_destroy(struct tls_ctx *t)
{
	if (!t)
		return;
	if (t->ctx)
		wolfSSL_CTX_free(t->ctx);
	free(t);
}

const char *tls_ctx_fingerprint(const struct tls_ctx *t)
{
	return t->fingerprint;
}

/* ---- sessions ---------------------------------------------------------------- */

WOLFSSL *tls_session_new(struct tls_ctx *t, struct tls_io *io)
{
	WOLFSSL *ssl = wolfSSL_new(t->ctx);

	if (!ssl)
		return NULL;
	wolfSSL_SetIOReadCtx(ssl, io);
	wolfSSL_SetIOWriteCtx(ssl, io);
	return ssl;
}

int tls_exporter(WOLFSSL *ssl, uint8_t *out, size_t len)
{
	static const char label[] = LOGIN_EXPORTER_LABEL;

	if (wolfSSL_export_keying_material(ssl, out, len, label, sizeof(label) - 1,
					   NULL, 0, 0) != WOLFSSL_SUCCESS)
		return TDM_EPROTO;
	return 0;
}

void tls_peer_fingerprint(WOLFSSL *ssl, char *out, size_t cap)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(ssl);
	const unsigned char *der;
	int len = 0;

	if (cap)
		out[0] = '\0';
	if (!x)
		return;
	der = wolfSSL_X509_get_der(x, &len);
	if (der && len > 0)
		fingerprint_der(der, (size_t)len, out, cap);
	wolfSSL_X509_free(x);
}

const char *tls_error_text(WOLFSSL *ssl, const struct tls_io *io, int ret,
			   char *buf, size_t cap)
{
	int e;

	if (io->last_errno) {
		snprintf(buf, cap, "%s", strerror(io->last_errno));
		return buf;
	}
	if (io->eof) {
		snprintf(buf, cap, "connection closed by the peer");
		return buf;
	}
	e = wolfSSL_get_error(ssl, ret);
	if (e == WOLFSSL_ERROR_ZERO_RETURN) {
		snprintf(buf, cap, "the peer closed the TLS session");
		return buf;
	}
	wolfSSL_ERR_error_string_n((unsigned long)e, buf, cap);
	return buf;
}

void tls_thread_cleanup(void)
{
#ifdef FP_ECC
	wc_ecc_fp_free();
#endif
}
