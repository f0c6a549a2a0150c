/* SPDX-License-Identifier: MIT */
/* harness.h -- integration-test helpers: start the real parleyd binary on a free
 * loopback port with a temporary data dir, and talk to it with raw blocking
 * sockets (TCP, HTTP/1.1, a minimal masked WebSocket client) so tests can send
 * exactly the bytes they want, hostile ones included.
 *
 * The parleyd path comes from $PARLEYD (set by CTest). Every helper aborts the
 * test (via cmocka's fail_msg) on unexpected I/O errors, so tests stay short. */
#ifndef PL_TEST_HARNESS_H
#define PL_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A local S3-compatible server (tests/s3/s3server.cjs: npm s3rver behind a
 * SigV4 check), started with node and stopped by its PID. */
typedef struct {
    pid_t pid;
    int port;
    char dir[300];     /* its data: <dir>/<bucket>/<key>._S3rver_object; requests
                          logged to <dir>.log ("METHOD URL STATUS" lines) */
    char endpoint[64]; /* "http://127.0.0.1:PORT" */
    char bucket[64];   /* created at start */
} th_s3_t;

typedef struct {
    pid_t pid;
    int port;           /* what tests talk to: the TLS port when tls */
    th_s3_t s3;         /* PL_TEST_MEDIA_STORE=s3: this server's S3 (pid 0 otherwise) */
    char data_dir[256]; /* temporary, removed by th_server_stop unless keep_data */
    char url[64];       /* "http://127.0.0.1:PORT" ("https://" when tls) */
    char log_path[300]; /* parleyd's stderr, kept in the data dir's parent */
    /* TLS mode (PL_TEST_TLS=1, ctest label tls): parleyd also listens with
     * TLS on port (a self-signed certificate made with the openssl CLI in
     * the data dir's parent) and every harness connection to port speaks
     * TLS (verified against that certificate); plain_port is the plain
     * listener. Without TLS plain_port == port. */
    bool tls;
    int plain_port;
    char cert_path[300], key_path[300];
    char pg_conninfo[400]; /* PL_TEST_PG runs: this server's database ("" otherwise) */
    bool pg_shared;        /* th_server_start_shared: the peer drops the database */
} th_server_t;

/** True when PL_TEST_TLS=1: th_server_start runs the server with TLS. */
bool th_tls_mode(void);
/** Makes a self-signed certificate (CN and SAN 127.0.0.1 / localhost) and
 * its key with the openssl CLI; fails the test if that does not work. */
void th_make_cert(const char *cert_path, const char *key_path, const char *cn);
/** Connects to port and completes a TLS handshake verified against the
 * certificate in ca_path; the fd's I/O through the th_* helpers is then
 * encrypted (until th_close). */
int th_connect_tls(int port, const char *ca_path);
/** A plain TCP connection to port, even to a TLS port (hostile tests). */
int th_connect_raw(int port);
/** Closes fd and forgets its TLS session, if any. */
void th_close(int fd);
/** The subject CN of the certificate the server presented on fd ("" for a
 * plain fd). */
void th_tls_peer_cn(int fd, char *out, size_t cap);

/** PL_TEST_PG (a libpq conninfo, set by the ctest label `pg`): every server
 * runs on the PostgreSQL backend, each th_server_start with a database of its
 * own (dropped by th_server_cleanup). NULL when unset (SQLite). */
const char *th_pg(void);
/** Creates a fresh database on the PL_TEST_PG cluster; writes its conninfo
 * (PL_TEST_PG + dbname) into ci. For tests that start servers on one shared
 * database themselves (multi-node). */
void th_pg_create_db(char *ci, size_t cilen);
/** Starts a second parleyd on peer's PostgreSQL database (a data dir and
 * port of its own): two writer nodes on one database. PL_TEST_PG only. */
void th_server_start_shared(th_server_t *s, const th_server_t *peer, const char *const *settings);
/** Drops the database of a conninfo made by th_pg_create_db. */
void th_pg_drop_db(const char *ci);

/** Starts parleyd with --listen 127.0.0.1:<free port> --data <tmp dir> and the
 * given extra "key=value" settings (NULL-terminated array, may be NULL), each
 * passed as `--set key=value`. Test-friendly defaults are always applied first:
 * argon2_opslimit=1, argon2_memlimit=8k, register_per_ip_hour and
 * login_per_ip_min lifted (overridable). Waits until /healthz
 * answers (10 s max). */
void th_server_start(th_server_t *s, const char *const *settings);
/** Same, reusing s->data_dir (for restart tests). */
void th_server_restart(th_server_t *s, const char *const *settings);
/** SIGTERM, wait for exit, assert exit status 0. Returns the exit status. */
int th_server_stop(th_server_t *s);
/** SIGKILL and wait (crash simulation). Data dir kept. */
void th_server_kill9(th_server_t *s);
/** Removes the data dir. */
void th_server_cleanup(th_server_t *s);

/** Connects a blocking TCP socket to 127.0.0.1:port with a 10 s recv timeout
 * (TLS mode: a TLS connection when port is the server's TLS port). */
int th_connect(int port);
/** Writes all bytes. */
void th_send_all(int fd, const void *p, size_t n);
/** Reads until the peer closes or timeout_ms passes; returns bytes read into
 * buf (NUL-terminated; cap includes the NUL). */
size_t th_recv_until_close(int fd, char *buf, size_t cap, int timeout_ms);

/** One blocking HTTP/1.1 request (Connection: close). Returns the status code,
 * copies the body (NUL-terminated) into body if non-NULL. auth may be NULL
 * (token for Authorization: Bearer). */
int th_http(int port, const char *method, const char *path, const char *auth, const char *json_body,
            char *body, size_t body_cap);

/** Registers a user (asserts 201) and returns its token in token (>= 128 bytes)
 * and user id in user_id (>= 32 bytes) when non-NULL. */
void th_register(int port, const char *username, const char *password, char *token, char *user_id);

/** Reads one HTTP response (Content-Length body) from fd: the head
 * (NUL-terminated) into head, the body into body (may be NULL; cut to
 * bcap - 1 and NUL-terminated). Returns the status, or -1 on EOF, timeout or
 * a malformed status line. */
int th_read_response(int fd, char *head, size_t hcap, char *body, size_t bcap);
/** True when the peer closes (EOF or reset) within timeout_ms; input before
 * that is read and dropped. */
bool th_peer_closed(int fd, int timeout_ms);

/* ---- raw WebSocket client (client frames are masked, as RFC 6455 requires) ---- */
/** Connects and completes the upgrade on path ("/v1/ws" or "/v1/echo").
 * Returns the fd. */
int th_ws_connect(int port, const char *path);
/** Sends one frame with the given first byte (FIN|RSV|opcode) and payload,
 * masked. */
void th_ws_send_frame(int fd, uint8_t b0, const void *payload, size_t len);
/** Like th_ws_send_frame, but returns false instead of failing the test when
 * the server is gone (hostile tests expect to be cut off). */
bool th_ws_try_send_frame(int fd, uint8_t b0, const void *payload, size_t len);
/** Sends a FIN text frame. */
void th_ws_send_text(int fd, const char *text);
/** Receives one frame: returns the opcode (0x1 text, 0x2 binary, 0x8 close,
 * 0x9 ping, 0xA pong) or -1 on EOF/timeout; payload copied (NUL-terminated)
 * into buf, length into *len. For close frames, *close_code is set (or 1005
 * when absent) if close_code is non-NULL. */
int th_ws_recv(int fd, char *buf, size_t cap, size_t *len, int *close_code, int timeout_ms);
/** Receives frames until a text frame arrives (answering pings); returns its
 * length, or -1. */
long th_ws_recv_text(int fd, char *buf, size_t cap, int timeout_ms);
/** Sends a JSON request and waits for the text frame whose "re" equals id,
 * skipping events. Returns length or -1. */
long th_ws_request(int fd, long id, const char *json, char *buf, size_t cap);
/** Expects the server to close: reads until a close frame and returns its code
 * (1005 if none, 1006 if the TCP connection dropped without one). */
int th_ws_expect_close(int fd, int timeout_ms);

/* ---- media on S3 (harness/s3.c) ---- */
/** True when PL_TEST_MEDIA_STORE=s3: th_server_start then gives every
 * parleyd its own s3server (data in the server's temp dir, bucket
 * "parley") and media_store=s3 settings, ahead of the test's own. */
bool th_s3_mode(void);
/** Starts s3server with its data in dir (created) and the bucket; reuses
 * s3->port when non-zero (a restart), else a free one. Waits until it
 * listens (15 s max). Needs $PARLEY_SRC and node. */
void th_s3_start(th_s3_t *s3, const char *dir, const char *bucket);
/** SIGTERM by PID and wait; the data stays. No-op when not running. */
void th_s3_stop(th_s3_t *s3);
/** The settings (key=value strings, pointers into static storage valid
 * until the next call) that point parleyd at s3: media_store, s3_endpoint,
 * s3_bucket, keys. NULL-terminated, at most 8 entries. */
const char *const *th_s3_settings(const th_s3_t *s3);
/** Whether the blob sha (variant NULL: the original) is stored by s: in
 * its data dir, or as an object in its S3 server's directory. */
bool th_media_blob_exists(const th_server_t *s, const char *sha, const char *variant);
/** Originals (not variants) stored by s. */
int th_media_count_blobs(const th_server_t *s);
/** Objects (complete ones, of any key) in s3's bucket. */
int th_s3_count_objects(const th_s3_t *s3);

/** Fails the test when the file at path (a server log) holds any of the n
 * secrets, whole or by its first 16 bytes (a truncated line leaks too); the
 * message names the secret's index and the file. Also fails when the file
 * cannot be read or is empty, so a missing log does not pass. */
void th_assert_not_in_file(const char *path, const char *const *secrets, size_t n);
/** Whether the file at path holds needle (false when it cannot be read). */
bool th_file_has(const char *path, const char *needle);

/** Returns a unique lowercase username with the given prefix. */
const char *th_unique_name(const char *prefix, char *out, size_t cap);

#endif
