/* SPDX-License-Identifier: MIT */
/* tls.h -- TLS over memory BIOs (OpenSSL 3), with no I/O: ciphertext from the
 * socket is fed in, plaintext read out, and plaintext written in comes out as
 * ciphertext to be sent. net/conn.c drives it from the libuv loops; the fuzz
 * target (tests/fuzz/fuzz_tls.c) drives the same calls with arbitrary bytes.
 * No <uv.h> here.
 *
 * Policy (pl_tls_ctx_policy): TLS 1.2 and 1.3 only, Mozilla "intermediate"
 * cipher suites, ALPN http/1.1, no renegotiation, no compression, session
 * tickets on. One pl_tls_conn_t per connection, used by one thread at a time;
 * an SSL_CTX may be shared by every loop (OpenSSL locks it). */
#ifndef PL_NET_TLS_H
#define PL_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/** One server-side TLS session over two memory BIOs. */
typedef struct pl_tls_conn pl_tls_conn_t;

/** Applies the server policy above to ctx (a TLS_server_method() context).
 * Returns 0, or PL_EINVAL if OpenSSL refuses a setting. */
int pl_tls_ctx_policy(SSL_CTX *ctx);

/** A new server context with the policy, the certificate chain of
 * cert_path and the key of key_path (PEM files), checked to match. Returns 0
 * and *out (owned: SSL_CTX_free), or PL_EINVAL with a message naming the
 * file and OpenSSL's reason in err (errlen bytes). Reads files: not for the
 * loop's hot path (startup and SIGHUP only). */
int pl_tls_ctx_load(const char *cert_path, const char *key_path, SSL_CTX **out, char *err,
                    size_t errlen);

/** A session for one accepted connection on ctx (ctx's reference is taken:
 * the caller may free or replace ctx afterwards); now: the accept time in
 * the caller's clock (pl_tls_born). NULL when OpenSSL is out of memory.
 * Free with pl_tls_conn_free (NULL is fine). */
pl_tls_conn_t *pl_tls_conn_new(SSL_CTX *ctx, uint64_t now);
/** The now given to pl_tls_conn_new (the handshake timeout counts from it). */
uint64_t pl_tls_born(const pl_tls_conn_t *t);
void pl_tls_conn_free(pl_tls_conn_t *t);

/** Feeds n bytes received from the peer (copied into the session). */
void pl_tls_feed(pl_tls_conn_t *t, const void *p, size_t n);

/** Advances the handshake and decrypts: up to cap plaintext bytes into out.
 * Returns the count (> 0); PL_EAGAIN when more input is needed (or the
 * handshake is still going: check pl_tls_out_pending, it may have something
 * to send); 0 when the peer sent close_notify; PL_EPROTO when the session
 * failed (bad records, handshake failure: an alert may be pending to send;
 * the reason is logged at debug). */
int pl_tls_read(pl_tls_conn_t *t, void *out, size_t cap);

/** Encrypts n plaintext bytes (all of them; the records go to the output).
 * Returns 0 or PL_EPROTO (session failed or not yet established). */
int pl_tls_write(pl_tls_conn_t *t, const void *p, size_t n);

/** Queues close_notify (after the handshake; no-op otherwise). */
void pl_tls_close_notify(pl_tls_conn_t *t);

/** Ciphertext waiting to be sent. */
size_t pl_tls_out_pending(const pl_tls_conn_t *t);
/** Moves up to cap bytes of it into out; returns the count. */
size_t pl_tls_out_take(pl_tls_conn_t *t, void *out, size_t cap);
/** Received bytes not yet decrypted (in the input BIO or the session). */
bool pl_tls_in_pending(const pl_tls_conn_t *t);

/** True once the handshake has finished. */
bool pl_tls_established(const pl_tls_conn_t *t);
/** Negotiated protocol ("TLSv1.3") and cipher, for logs; "" before. */
const char *pl_tls_version(const pl_tls_conn_t *t);
const char *pl_tls_cipher(const pl_tls_conn_t *t);

/** Gives back what the session does not need while idle; called when a
 * read or a flush leaves nothing pending. Once established, the two memory
 * BIOs themselves are freed (made again by the next feed, read, write or
 * close_notify); during the handshake, emptied BIOs that held anything are
 * renewed (their buffers never shrink). */
void pl_tls_idle(pl_tls_conn_t *t);

/** True when the first bytes of a connection (n > 0) cannot start a TLS
 * record but look like a plain HTTP request line ("GET ", "POST "...): the
 * client spoke http:// to the https port. */
bool pl_tls_looks_like_http(const void *p, size_t n);

#endif
