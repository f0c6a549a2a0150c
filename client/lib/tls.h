/* SPDX-License-Identifier: MIT */
/* tls.h -- libparley's TLS for https:// and wss:// URLs (OpenSSL 3 over
 * memory BIOs on a libuv stream, or on a blocking socket for media). The
 * server's certificate is verified against the system's CAs (or the file
 * given to parley_tls_config) and the URL's host, unless insecure. */
#ifndef PARLEY_LIB_TLS_H
#define PARLEY_LIB_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct parley__tls parley__tls_t;

/** A client session for host (SNI and the name or address checked in the
 * certificate). NULL with a reason in err when the context cannot be made
 * (a bad CA file). Free with parley__tls_free (NULL is fine). */
parley__tls_t *parley__tls_new(const char *host, char *err, size_t errlen);
void parley__tls_free(parley__tls_t *t);

/** Queues n plaintext bytes (sent once the handshake is done) and writes the
 * ciphertext that is ready to s. Returns 0, or -1 when a write failed. */
int parley__tls_send(parley__tls_t *t, uv_stream_t *s, const void *p, size_t n);

/** Feeds n bytes read from s: the plaintext they complete goes to deliver
 * (borrowed for the call), handshake replies to s. Returns 0, or -1 with the
 * reason (certificate not trusted, handshake failure) in err. */
int parley__tls_recv(parley__tls_t *t, uv_stream_t *s, const char *p, size_t n,
                     void (*deliver)(void *ud, const char *p, size_t n), void *ud, char *err,
                     size_t errlen);

/** Blocking sockets (media transfers): a verified handshake on fd. NULL with
 * err on failure. The session is used with parley__tls_fd_send/_recv, which
 * behave like send(2)/recv(2). */
parley__tls_t *parley__tls_connect_fd(int fd, const char *host, char *err, size_t errlen);
long parley__tls_fd_send(parley__tls_t *t, const void *p, size_t n);
long parley__tls_fd_recv(parley__tls_t *t, void *p, size_t n);

#endif
