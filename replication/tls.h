/* SPDX-License-Identifier: MIT */
/*
 * TLS for the master/standby link: wolfSSL contexts restricted to TLS 1.3,
 * the node's key and certificate (loaded, or generated in data_dir on first
 * start), sessions over non-blocking sockets, and the TLS exporter the
 * login proof is bound to.
 *
 * There is no CA: certificates are not verified. The peer is authenticated
 * by the login proof (login.h), which is bound to the TLS session, so a
 * man in the middle gains nothing from presenting its own certificate. The
 * certificate's SHA-256 fingerprint is shown on both sides (link_info) so
 * an operator can compare them.
 *
 * Start-up functions report errors as one line in a caller's buffer that
 * names the file and the problem; nothing here logs.
 * Control thread (contexts and sessions are not shared across threads).
 */
#ifndef TANDEM_TLS_H
#define TANDEM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#define TLS_KEY_FILE "tls.key"
#define TLS_CERT_FILE "tls.crt"
#define TLS_CERT_DAYS 7300              /* 20 years */
#define TLS_FILE_MAX ((size_t)1 << 20)  /* larger key/cert files are refused */
/* "AB:CD:...:EF": 32 bytes as upper-case hex pairs with colons, like
 * `openssl x509 -noout -fingerprint -sha256`. */
#define TLS_FPR_STRLEN 96
#define TLS_ERR_MAX 256

/*
 * The generated identity: make sure data_dir holds TLS_KEY_FILE (ECDSA
 * P-256, PEM, mode 0600) and TLS_CERT_FILE (self-signed, CN = name,
 * TLS_CERT_DAYS days, PEM). Neither file: both are generated. The key
 * alone: a certificate is made for it. The certificate alone: an error
 * (a certificate without its key is unusable, and it is not ours to
 * delete). Both: nothing is done here (tls_ctx_create checks they match).
 * Files are written to a temporary name, synced and renamed, so a crash
 * never leaves a half-written file.
 * Fills cert_path and key_path (PATH_MAX bytes each); *generated says
 * whether anything was written. Returns 0 or a negative error with err set.
 */
int tls_identity_ensure(const char *data_dir, const char *name,
			char *cert_path, char *key_path, bool *generated,
			char *err, size_t errcap);

struct tls_ctx;

/*
 * A TLS 1.3 context for one side (server: the master's listener; client:
 * the standby) with this certificate and key (PEM files). Fails with a
 * message naming the file when one cannot be read, is not PEM of the
 * right kind, or the key does not match the certificate.
 */
int tls_ctx_create(bool server, const char *cert_path, const char *key_path,
		   struct tls_ctx **out, char *err, size_t errcap);
/* NULL is a no-op. */
void tls_ctx_destroy(struct tls_ctx *t);

/* Our certificate's fingerprint (TLS_FPR_STRLEN). */
const char *tls_ctx_fingerprint(const struct tls_ctx *t);

/* The socket of one session and what its I/O saw. */
struct tls_io {
	int fd;
	int last_errno;         /* errno of the last failed recv/send, 0 if none */
	bool eof;               /* the peer closed its side */
	uint64_t wire_in;       /* bytes received / sent on the socket */
	uint64_t wire_out;
};

/* A session on io->fd (non-blocking). NULL when out of memory. */
WOLFSSL *tls_session_new(struct tls_ctx *t, struct tls_io *io);

/* The login exporter (LOGIN_EXPORTER_LABEL, no context), len bytes.
 * Returns 0 or TDM_EPROTO when the handshake is not complete. */
int tls_exporter(WOLFSSL *ssl, uint8_t *out, size_t len);

/* The peer's certificate fingerprint, or "" when it sent none. */
void tls_peer_fingerprint(WOLFSSL *ssl, char *out, size_t cap);

/* A text for the failure of a wolfSSL call that returned ret on ssl,
 * preferring the socket's errno when there was one. */
const char *tls_error_text(WOLFSSL *ssl, const struct tls_io *io, int ret,
			   char *buf, size_t cap);

/* wolfSSL keeps a per-thread cache of ECC points (FP_ECC). Call this on
 * every thread that used TLS or generated a key (the control thread, after
 * the last link_destroy) before the thread ends, or the cache leaks. */
void tls_thread_cleanup(void);

#endif
