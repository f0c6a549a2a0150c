/* SPDX-License-Identifier: MIT */
/* config.c -- the typed configuration table and its parsers. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

typedef enum { CFG_INT, CFG_SIZE, CFG_BOOL, CFG_STR } cfg_type_t;

typedef struct {
    const char *name;
    cfg_type_t type;
    size_t offset;
    int64_t min, max; /* for numbers */
    const char *def;  /* default, as text */
    const char *help;
} cfg_entry_t;

#define OFF(f) offsetof(pl_config_t, f)
#define KiB 1024LL
#define MiB (1024LL * 1024)

static const cfg_entry_t table[] = {
    {"listen", CFG_STR, OFF(listen), 0, 0, "127.0.0.1:8080", "address to listen on, HOST:PORT"},
    {"max_connections", CFG_INT, OFF(max_connections), 1, 1000000, "20000", "open TCP connections"},
    {"threads", CFG_INT, OFF(threads), 0, 256, "0", "event loop threads; 0 = one per online CPU"},
    {"max_http_header_bytes", CFG_SIZE, OFF(max_http_header_bytes), 1 * KiB, 1 * MiB, "16384",
     "request line and headers of one HTTP request"},
    {"max_http_body_bytes", CFG_SIZE, OFF(max_http_body_bytes), 1 * KiB, 64 * MiB, "1048576",
     "body of one HTTP JSON request"},
    {"http_idle_timeout_ms", CFG_INT, OFF(http_idle_timeout_ms), 100, 3600000, "30000",
     "close an HTTP connection idle (or sending a request) this long"},
    {"web_root", CFG_STR, OFF(web_root), 0, 0, "web", "directory of the web client, served at /"},
    {"max_ws_message", CFG_SIZE, OFF(max_ws_message), 1 * KiB, 64 * MiB, "1048576",
     "WebSocket message after reassembly; larger closes with 1009"},
    {"max_write_queue", CFG_SIZE, OFF(max_write_queue), 64 * KiB, 1024 * MiB, "4194304",
     "queued outbound bytes per connection; past it the client is closed (4008)"},
    {"ws_ping_interval_ms", CFG_INT, OFF(ws_ping_interval_ms), 100, 3600000, "30000",
     "ping a WebSocket that has been quiet this long"},
    {"ws_idle_timeout_ms", CFG_INT, OFF(ws_idle_timeout_ms), 200, 7200000, "90000",
     "close a WebSocket that sent nothing for this long"},
    {"ws_echo", CFG_BOOL, OFF(ws_echo), 0, 1, "false",
     "serve the /v1/echo WebSocket test endpoint"},
    {"max_content_bytes", CFG_SIZE, OFF(max_content_bytes), 256, 16 * MiB, "65536",
     "serialized message content"},
    {"max_client_id_len", CFG_INT, OFF(max_client_id_len), 8, 1024, "128", "bytes of a client_id"},
    {"max_room_name", CFG_INT, OFF(max_room_name), 1, 4096, "128", "bytes of a room name"},
    {"max_group_members", CFG_INT, OFF(max_group_members), 2, 1000000, "10000",
     "members of one group"},
    {"history_max_limit", CFG_INT, OFF(history_max_limit), 1, 100000, "500",
     "largest `limit` of one history request"},
    {"sync_max_messages", CFG_INT, OFF(sync_max_messages), 10, 1000000, "2000",
     "messages sent by one sync request before it answers more=true"},
    {"sync_ring_size", CFG_INT, OFF(sync_ring_size), 0, 4096, "64",
     "recent messages kept in memory per room, so a sync inside them reads no database (0: off)"},
    {"rate_limit_per_sec", CFG_INT, OFF(rate_limit_per_sec), 1, 10000000, "200",
     "WebSocket requests per second per user, all of its connections together (burst twice "
     "that)"},
    {"min_disappearing_ms", CFG_INT, OFF(min_disappearing_ms), 100, 2419200000LL, "300000",
     "shortest disappearing-message timer (tests lower it)"},
    {"sweep_interval_ms", CFG_INT, OFF(sweep_interval_ms), 50, 60000, "1000",
     "how often expired disappearing messages are deleted"},
    {"message_retention_ms", CFG_INT, OFF(message_retention_ms), 0, 100LL * 366 * 86400000, "0",
     "messages older than this are deleted by the sweeper, server-wide (0: kept forever; "
     "otherwise at least 1000)"},
    {"presence_grace_ms", CFG_INT, OFF(presence_grace_ms), 0, 600000, "5000",
     "a user shows offline this long after their last connection closed"},
    {"max_reactions_per_user", CFG_INT, OFF(max_reactions_per_user), 1, 1000, "20",
     "different emoji one user may put on one message"},
    /* group membership and invitations (chat/members.c) */
    {"room_create_per_hour", CFG_INT, OFF(room_create_per_hour), 1, 1000000000, "60",
     "rooms (groups and new dms) one user may create per hour (burst: the same number)"},
    {"member_adds_per_hour", CFG_INT, OFF(member_adds_per_hour), 1, 1000000000, "600",
     "people one user may add to or invite into groups per hour (burst: the same number)"},
    {"max_pending_invites_per_user", CFG_INT, OFF(max_pending_invites_per_user), 1, 1000000, "100",
     "pending invitations one user can hold; more are refused"},
    {"max_pending_invites_per_room", CFG_INT, OFF(max_pending_invites_per_room), 1, 1000000, "1000",
     "pending invitations to one group; more are refused"},
    {"invite_ttl_ms", CFG_INT, OFF(invite_ttl_ms), 1000, 365LL * 86400000, "604800000",
     "a pending invitation expires this long after it was made"},
    {"argon2_opslimit", CFG_INT, OFF(argon2_opslimit), 1, 100, "2",
     "Argon2id passes (libsodium opslimit)"},
    {"argon2_memlimit", CFG_SIZE, OFF(argon2_memlimit), 8 * KiB, 4096 * MiB, "67108864",
     "Argon2id memory in bytes"},
    {"max_sessions_per_user", CFG_INT, OFF(max_sessions_per_user), 1, 100000, "100",
     "devices logged in at once per user"},
    {"max_upload_bytes", CFG_SIZE, OFF(max_upload_bytes), 1 * KiB, 1024 * 1024 * MiB, "104857600",
     "one media upload (POST /v1/media); larger is refused with 413"},
    {"max_image_pixels", CFG_INT, OFF(max_image_pixels), 1, 1000000000, "50000000",
     "images with more pixels get no thumbnail (decompression bombs)"},
    {"media_gc_grace_ms", CFG_INT, OFF(media_gc_grace_ms), 0, 31LL * 86400000, "86400000",
     "an upload nothing references is deleted this long after it was uploaded"},
    {"media_gc_interval_ms", CFG_INT, OFF(media_gc_interval_ms), 50, 86400000, "600000",
     "how often unreferenced and released media are garbage-collected"},
    {"emoji_add_policy", CFG_STR, OFF(emoji_add_policy), 0, 0, "anyone",
     "who may add custom emoji: anyone or nobody"},
    {"data_dir", CFG_STR, OFF(data_dir), 0, 0, "./data", "directory of the database"},
    {"commit_batch_max", CFG_INT, OFF(commit_batch_max), 1, 1000000, "4096",
     "write jobs committed together in one transaction (one fsync)"},
    {"commit_wait_us", CFG_INT, OFF(commit_wait_us), 0, 100000, "0",
     "a group commit waits up to this long for commit_batch_max jobs (0: commit what is queued)"},
    {"store_read_threads", CFG_INT, OFF(store_read_threads), 1, 64, "2",
     "threads serving database reads"},
    {"log_level", CFG_STR, OFF(log_level), 0, 0, "info", "error, warn, info, debug or trace"},
    /* clients behind proxies */
    {"trusted_proxies", CFG_STR, OFF(trusted_proxies), 0, 0, "",
     "proxies (addresses or address/bits, blank- or comma-separated) whose X-Forwarded-For "
     "names the client; empty: none, the TCP peer is the client"},
    /* network hardening (net/, http/, ws/) */
    {"max_connections_per_ip", CFG_INT, OFF(max_connections_per_ip), 0, 1000000, "256",
     "open connections from one client address (IPv6: one /64), over all loops; trusted_proxies "
     "are exempt; 0 = no cap"},
    {"fd_reserve", CFG_INT, OFF(fd_reserve), 16, 1000000, "128",
     "file descriptors kept free for the database, media files and loops: max_connections is "
     "capped to the open-file limit minus the fds open at start minus this"},
    {"max_http_unsent_bytes", CFG_SIZE, OFF(max_http_unsent_bytes), 0, 64 * MiB, "65536",
     "unsent response bytes on one HTTP connection above which no further pipelined request is "
     "read (0: one response at a time)"},
    {"http_keepalive_requests", CFG_INT, OFF(http_keepalive_requests), 1, 100000000, "1000",
     "requests served on one HTTP connection; the last one is answered with Connection: close"},
    {"http_keepalive_time_ms", CFG_INT, OFF(http_keepalive_time_ms), 100, 604800000LL, "3600000",
     "an HTTP connection this old answers its current request with Connection: close"},
    {"ws_auth_timeout_ms", CFG_INT, OFF(ws_auth_timeout_ms), 100, 3600000, "30000",
     "close (4001) a WebSocket that has not authenticated this long after the upgrade"},
    {"max_ws_preauth_message", CFG_SIZE, OFF(max_ws_preauth_message), 1 * KiB, 64 * MiB, "65536",
     "WebSocket message before auth succeeds (at most max_ws_message); larger closes with 1009"},
    {"ws_allowed_origins", CFG_STR, OFF(ws_allowed_origins), 0, 0, "",
     "origins (scheme://host[:port], blank- or comma-separated) whose pages may open "
     "WebSockets; requests without Origin always may; empty: any"},
    /* chat: replies and request limits (hardening) */
    {"max_reply_bytes", CFG_SIZE, OFF(max_reply_bytes), 16 * KiB, 64 * MiB, "262144",
     "bytes of one list reply (history, rooms, sync, search, ...): longer lists are paged "
     "(more: true); also how much of a long answer is sent ahead of the client reading it"},
    {"max_inflight_requests", CFG_INT, OFF(max_inflight_requests), 1, 100000, "32",
     "WebSocket requests of one connection being answered at once; more are refused "
     "(too_many_pending)"},
    {"rate_limit_ip_per_sec", CFG_INT, OFF(rate_limit_ip_per_sec), 1, 10000000, "100",
     "WebSocket requests per second per client address before auth (burst twice that)"},
    {"rate_limit_ip_keys", CFG_INT, OFF(rate_limit_ip_keys), 16, 10000000, "16384",
     "client addresses the pre-auth request limiter remembers (least recently used forgotten)"},
    /* account endpoints and stats (src/api, src/auth/auth_limits.c) */
    {"register_per_ip_hour", CFG_INT, OFF(register_per_ip_hour), 1, 1000000000, "20",
     "registrations per client address (IPv6: per /64) per hour, as a burst that refills evenly"},
    {"login_per_ip_min", CFG_INT, OFF(login_per_ip_min), 1, 1000000000, "60",
     "login attempts (right or wrong) per client address per minute"},
    {"login_failures_per_ip_hour", CFG_INT, OFF(login_failures_per_ip_hour), 1, 1000000000, "100",
     "failed logins per client address per hour, over all accounts"},
    {"login_failures_per_account_ip_hour", CFG_INT, OFF(login_failures_per_account_ip_hour), 1,
     1000000000, "10", "failed logins per account per client address per hour"},
    {"login_failures_per_account_hour", CFG_INT, OFF(login_failures_per_account_hour), 1,
     1000000000, "100",
     "failed logins per account per hour from all addresses except those it logged in from "
     "within 30 days"},
    {"auth_limit_max_keys", CFG_INT, OFF(auth_limit_max_keys), 16, 10000000, "65536",
     "addresses or accounts each login/registration limit tracks (least recently seen dropped)"},
    {"stats_allow", CFG_STR, OFF(stats_allow), 0, 0, "127.0.0.0/8 ::1",
     "clients (addresses or address/bits) allowed to read /v1/stats without stats_token"},
    {"stats_token", CFG_STR, OFF(stats_token), 0, 0, "",
     "bearer token that opens /v1/stats from anywhere (at least 16 characters); empty: none"},
    /* media decoding (src/media) */
    {"media_decode_threads", CFG_INT, OFF(media_decode_threads), 1, 64, "1",
     "threads decoding images for thumbnails, apart from the pool that hashes passwords"},
    {"media_decode_queue_max", CFG_INT, OFF(media_decode_queue_max), 1, 1000000, "256",
     "images waiting for a decode thread; past it an upload is stored without a thumbnail"},
    {"max_image_decode_bytes", CFG_SIZE, OFF(max_image_decode_bytes), 1 * MiB, 65536 * MiB,
     "134217728", "estimated memory one image decode may take; costlier images get no thumbnail"},
    /* accounts: MFA, password policy and resets, registration mode, login
     * backoff (issue 12, src/api/api_account.c, src/auth/) */
    {"registration", CFG_STR, OFF(registration), 0, 0, "open",
     "who may register: open, invite (an operator-issued invite_code is needed) or closed"},
    {"invite_code_ttl_ms", CFG_INT, OFF(invite_code_ttl_ms), 60000, 366LL * 86400000, "604800000",
     "lifetime of an invite code printed by parleyd --invite-code"},
    {"reset_link_ttl_ms", CFG_INT, OFF(reset_link_ttl_ms), 60000, 7LL * 86400000, "3600000",
     "lifetime of a password reset link printed by parleyd --reset-link"},
    {"public_url", CFG_STR, OFF(public_url), 0, 0, "",
     "the server's public base URL (https://chat.example.com), used in printed reset links"},
    {"password_blocklist", CFG_STR, OFF(password_blocklist), 0, 0, "share/common-passwords.txt",
     "file of common passwords (one a line) refused as weak_password; empty: none"},
    {"totp_issuer", CFG_STR, OFF(totp_issuer), 0, 0, "Parley",
     "issuer name in TOTP enrolment (what authenticator apps show)"},
    {"mfa_ticket_max", CFG_INT, OFF(mfa_ticket_max), 16, 10000000, "10000",
     "pending second login steps (mfa_ticket) kept in memory; the oldest goes first"},
    {"login_backoff_free_failures", CFG_INT, OFF(login_backoff_free_failures), 1, 1000, "5",
     "failed logins per account and address before each further one doubles a wait"},
    {"login_backoff_max_ms", CFG_INT, OFF(login_backoff_max_ms), 1000, 86400000, "900000",
     "longest wait the login backoff imposes"},
    {"totp_secret_key", CFG_STR, OFF(totp_secret_key), 0, 0, "",
     "64 hex digits (32 bytes) sealing TOTP secrets in the database; empty: stored as is"},
    /* passkeys / WebAuthn (src/auth/webauthn.c, src/api/api_passkey.c) */
    {"webauthn_rp_id", CFG_STR, OFF(webauthn_rp_id), 0, 0, "localhost",
     "WebAuthn relying party id: the site's host name (no scheme, no port; an IP address is "
     "not allowed); passkeys are bound to it"},
    {"webauthn_rp_name", CFG_STR, OFF(webauthn_rp_name), 0, 0, "Parley",
     "relying party name the browser shows when a passkey is created"},
    {"webauthn_origins", CFG_STR, OFF(webauthn_origins), 0, 0,
     "http://localhost:8080 https://localhost:8080",
     "origins (scheme://host[:port], blank- or comma-separated) whose pages may use passkeys; "
     "each host must be webauthn_rp_id or a subdomain of it"},
    {"webauthn_challenges_max", CFG_INT, OFF(webauthn_challenges_max), 16, 10000000, "65536",
     "passkey challenges outstanding at once (5 minutes each); past it: 429"},
    {"webauthn_challenges_per_ip", CFG_INT, OFF(webauthn_challenges_per_ip), 1, 1000000, "32",
     "passkey challenges outstanding per client address (IPv6: per /64); past it: 429"},
    /* built-in TLS (issue 12, src/net/tls.c) */
    {"tls_listen", CFG_STR, OFF(tls_listen), 0, 0, "",
     "address of the https/wss listener, HOST:PORT; empty: no TLS (the plain listen stays)"},
    {"tls_cert", CFG_STR, OFF(tls_cert), 0, 0, "",
     "PEM file with the certificate chain of tls_listen (reloaded on SIGHUP)"},
    {"tls_key", CFG_STR, OFF(tls_key), 0, 0, "",
     "PEM file with the private key of tls_cert (reloaded on SIGHUP)"},
    {"tls_redirect", CFG_BOOL, OFF(tls_redirect), 0, 1, "false",
     "answer plain-HTTP requests (except /healthz) with 301 to the https:// address"},
    {"hsts_max_age", CFG_INT, OFF(hsts_max_age), 0, 100000000, "31536000",
     "Strict-Transport-Security max-age (seconds) on every TLS response; 0: no header"},
    {"tls_handshake_timeout_ms", CFG_INT, OFF(tls_handshake_timeout_ms), 100, 600000, "10000",
     "a TLS connection must finish its handshake this long after accept, else it is closed"},
    /* privacy of deleted data (store/store_sqlite_index.c, store_sqlite.c) */
    {"purge_delay_ms", CFG_INT, OFF(purge_delay_ms), 0, 3600000, "10000",
     "the text of deleted, expired and edited messages leaves the data files (search index "
     "merged, WALs truncated) at most this long after the change"},
    /* media on S3 (src/media/media_store_s3.c) */
    {"media_store", CFG_STR, OFF(media_store), 0, 0, "local",
     "where media bytes live: local (data_dir/media) or s3 (the s3_* keys)"},
    {"s3_endpoint", CFG_STR, OFF(s3_endpoint), 0, 0, "",
     "S3 API base URL, http(s)://host[:port] (media_store s3)"},
    {"s3_bucket", CFG_STR, OFF(s3_bucket), 0, 0, "", "S3 bucket holding the media"},
    {"s3_region", CFG_STR, OFF(s3_region), 0, 0, "us-east-1", "S3 region used in SigV4 signing"},
    {"s3_access_key", CFG_STR, OFF(s3_access_key), 0, 0, "",
     "S3 access key id (secret: not printed; PARLEYD_S3_ACCESS_KEY)"},
    {"s3_secret_key", CFG_STR, OFF(s3_secret_key), 0, 0, "",
     "S3 secret access key (secret: not printed; PARLEYD_S3_SECRET_KEY)"},
    {"s3_path_style", CFG_BOOL, OFF(s3_path_style), 0, 1, "true",
     "path-style URLs (endpoint/bucket/key); false: virtual-host style (bucket.endpoint/key)"},
    {"s3_part_size", CFG_SIZE, OFF(s3_part_size), 5 * MiB, 5120 * MiB, "8388608",
     "multipart upload part size; objects up to this size go in one PUT"},
    {"s3_timeout_ms", CFG_INT, OFF(s3_timeout_ms), 100, 3600000, "30000",
     "one S3 request, from connect to the last byte (a part, a range, a HEAD)"},
    {"s3_retries", CFG_INT, OFF(s3_retries), 0, 10, "2",
     "extra attempts of an idempotent S3 request after a timeout or a 5xx (backoff 100 ms x4^n)"},
    {"s3_cache_bytes", CFG_SIZE, OFF(s3_cache_bytes), 0, 1024 * 1024 * MiB, "268435456",
     "local copies of S3 objects kept for thumbnailing (data_dir/media/cache), oldest dropped"},
    /* store backend selection (issue 13: PostgreSQL store backend) */
    {"store", CFG_STR, OFF(store), 0, 0, "sqlite",
     "storage backend: sqlite (data_dir/parley.db) or postgres (pg_conninfo)"},
    {"pg_conninfo", CFG_STR, OFF(pg_conninfo), 0, 0, "",
     "libpq connection string of the postgres store (e.g. \"host=/run/postgresql dbname=parley\"); "
     "empty: libpq defaults and the PG* environment variables"},
    /* cluster: Redis bus, readiness and draining (src/cluster, issue 13) */
    {"redis", CFG_STR, OFF(redis), 0, 0, "",
     "Redis of the cluster bus: HOST:PORT or a unix socket path; empty: single node (no bus)"},
    {"node_id", CFG_STR, OFF(node_id), 0, 0, "",
     "this node's name on the cluster bus (unique per node); empty: hostname-pid"},
    {"drain_ms", CFG_INT, OFF(drain_ms), 0, 600000, "0",
     "on SIGTERM, /readyz answers 503 this long before WebSockets close (1001) and the node exits"},
    {"redis_reconnect_max_ms", CFG_INT, OFF(redis_reconnect_max_ms), 100, 600000, "5000",
     "longest wait between two Redis reconnect attempts (exponential backoff with jitter)"},
    /* cluster shared state: presence with a TTL per node and per-user rate
     * limits in Redis (src/cluster/state.c, src/chat/shared.c; issue 13) */
    {"presence_ttl_ms", CFG_INT, OFF(presence_ttl_ms), 500, 3600000, "15000",
     "with redis: a node that stops renewing its presence (killed, cut off) has its users "
     "shown offline on the other nodes after this long"},
    {"presence_heartbeat_ms", CFG_INT, OFF(presence_heartbeat_ms), 100, 600000, "3000",
     "with redis: how often a node renews its presence and reaps dead nodes "
     "(used as at most a third of presence_ttl_ms)"},
    {"rate_sync_ms", CFG_INT, OFF(rate_sync_ms), 20, 10000, "200",
     "with redis: how often a node adds its users' request counts to the shared buckets "
     "(the tolerance of rate_limit_per_sec over several nodes)"},
    /* cluster failure detection: peer heartbeats (src/cluster, issue 13: node failures) */
    {"cluster_heartbeat_ms", CFG_INT, OFF(cluster_heartbeat_ms), 50, 60000, "1000",
     "how often a node tells the others on the bus that it is alive"},
    {"cluster_peer_timeout_ms", CFG_INT, OFF(cluster_peer_timeout_ms), 150, 600000, "5000",
     "a node silent this long is taken for dead: the others read from the store what it may "
     "have committed without publishing"},
    /* durable background jobs (issue 13, src/jobs/jobs.c) */
    {"jobs_workers", CFG_INT, OFF(jobs_workers), 0, 64, "4",
     "background jobs (email, ...) run at once on this node; 0: this node runs none"},
    {"jobs_poll_ms", CFG_INT, OFF(jobs_poll_ms), 20, 60000, "1000",
     "how often the job runner looks for due jobs (jobs enqueued on this node wake it at once)"},
    {"jobs_timeout_ms", CFG_INT, OFF(jobs_timeout_ms), 100, 3600000, "30000",
     "one run of a job handler (an SMTP delivery) fails after this long"},
    {"jobs_retry_base_ms", CFG_INT, OFF(jobs_retry_base_ms), 10, 86400000, "10000",
     "first retry of a failed job after this long; doubles per attempt (+-20 % jitter)"},
    {"jobs_retry_max_ms", CFG_INT, OFF(jobs_retry_max_ms), 10, 7LL * 86400000, "3600000",
     "longest wait between two attempts of a job"},
    {"jobs_max_attempts", CFG_INT, OFF(jobs_max_attempts), 1, 10000, "25",
     "attempts of a job before it is dead (kept, counted in /v1/stats as jobs_dead)"},
    {"jobs_retention_ms", CFG_INT, OFF(jobs_retention_ms), 0, 366LL * 86400000, "86400000",
     "finished jobs are deleted this long after they succeeded (dead jobs are kept)"},
    /* email over SMTP (issue 12 reset links; src/jobs/jobs_smtp.c) */
    {"smtp_url", CFG_STR, OFF(smtp_url), 0, 0, "",
     "mail server: smtp://host[:port] (plain, or STARTTLS when offered) or smtps://host[:port]; "
     "empty: no email"},
    {"smtp_from", CFG_STR, OFF(smtp_from), 0, 0, "parley@localhost",
     "sender address of Parley's email (envelope and From:)"},
    {"smtp_user", CFG_STR, OFF(smtp_user), 0, 0, "", "SMTP AUTH user name; empty: no AUTH"},
    {"smtp_password", CFG_STR, OFF(smtp_password), 0, 0, "",
     "SMTP AUTH password (secret: not printed; PARLEYD_SMTP_PASSWORD)"},
    /* Web Push (issue 15, src/push/) */
    {"push_enabled", CFG_BOOL, OFF(push_enabled), 0, 0, "true",
     "Web Push notifications (VAPID keys kept in data_dir/vapid.key); false: push ops refused"},
    {"push_subject", CFG_STR, OFF(push_subject), 0, 0, "mailto:admin@localhost",
     "VAPID contact (RFC 8292 `sub`): a mailto: or https: URI push services may use"},
    {"push_ttl_s", CFG_INT, OFF(push_ttl_s), 0, 28LL * 86400, "86400",
     "TTL of a push: how long a push service keeps it for an offline browser"},
    {"push_max_subscriptions", CFG_INT, OFF(push_max_subscriptions), 1, 1000, "10",
     "push subscriptions per user (one per browser profile)"},
    {"push_timeout_ms", CFG_INT, OFF(push_timeout_ms), 100, 600000, "10000",
     "one POST to a push service (connect included), then it is retried"},
    {"push_content_free", CFG_BOOL, OFF(push_content_free), 0, 0, "false",
     "default of the per-user setting: pushes say only who wrote, never what"},
    {"push_allow_local", CFG_BOOL, OFF(push_allow_local), 0, 0, "false",
     "TESTS ONLY: accept http:// endpoints and send to loopback/private addresses (SSRF guard "
     "off)"},
    /* idle connection memory (issue 14, store/store_sqlite.c) */
    {"store_reader_cache_bytes", CFG_SIZE, OFF(store_reader_cache_bytes), 0, 1024 * MiB, "262144",
     "SQLite page cache of each store reader connection (the writer keeps SQLite's default); "
     "0: SQLite's default (2 MiB)"},
    /* voice and video calls (issue 19, src/chat/calls.c) */
    {"call_ring_timeout_ms", CFG_INT, OFF(call_ring_timeout_ms), 1000, 600000, "45000",
     "an unanswered call rings this long, then it is a missed call"},
    {"call_max_calls", CFG_INT, OFF(call_max_calls), 1, 1000000, "10000",
     "calls held in memory by this node at once (call_invite beyond: too_many_calls)"},
    {"call_max_participants", CFG_INT, OFF(call_max_participants), 2, 8, "4",
     "people in one group call (a full mesh: each sends its media to every other)"},
    {"call_max_sdp_bytes", CFG_SIZE, OFF(call_max_sdp_bytes), 1024, 65536, "16384",
     "the SDP or ICE candidate text of one call_signal"},
    {"call_max_signals", CFG_INT, OFF(call_max_signals), 10, 1000000, "2000",
     "call_signal messages relayed for one call, all participants together"},
    {"call_signal_rate_per_sec", CFG_INT, OFF(call_signal_rate_per_sec), 1, 100000, "50",
     "call ops per user and second (bursts of 4x), call_signal included"},
    {"turn_urls", CFG_STR, OFF(turn_urls), 0, 0, "",
     "TURN servers handed to clients, comma-separated (turn:host:3478?transport=udp,...)"},
    {"stun_urls", CFG_STR, OFF(stun_urls), 0, 0, "",
     "STUN servers handed to clients, comma-separated (stun:host:3478)"},
    {"turn_secret", CFG_STR, OFF(turn_secret), 0, 0, "",
     "shared secret of the TURN REST API (coturn static-auth-secret; secret: not printed; "
     "PARLEYD_TURN_SECRET); empty: no TURN credentials"},
    {"turn_ttl_s", CFG_INT, OFF(turn_ttl_s), 60, 86400, "600",
     "lifetime of the TURN credentials turn_credentials hands out"},
    /* integrations (issue 16) */
    {"webhooks_per_room", CFG_INT, OFF(webhooks_per_room), 1, 1000, "20",
     "live incoming webhooks a room may have"},
    {"webhook_max_body", CFG_SIZE, OFF(webhook_max_body), 64, 1 * MiB, "65536",
     "bytes of one incoming-webhook request body (413 body_too_large beyond)"},
    {"webhook_rate_per_min", CFG_INT, OFF(webhook_rate_per_min), 1, 100000, "60",
     "posts per minute one incoming webhook may make (429 with Retry-After beyond)"},
    {"webhook_burst", CFG_INT, OFF(webhook_burst), 1, 100000, "20",
     "posts one incoming webhook may make at once before webhook_rate_per_min applies"},
};

/* String keys whose value is a list of networks (core/addr.h). */
static const char *const cidr_keys[] = {"trusted_proxies", "stats_allow"};

/* String keys whose value is a secret: --config-test does not print it. */
static bool is_secret_key(const char *key)
{
    return strcmp(key, "stats_token") == 0 || strcmp(key, "totp_secret_key") == 0 ||
           strcmp(key, "s3_access_key") == 0 || strcmp(key, "s3_secret_key") == 0 ||
           strcmp(key, "pg_conninfo") == 0 || strcmp(key, "smtp_password") == 0 ||
           strcmp(key, "turn_secret") == 0; /* calls (issue 19) */
}

static bool is_cidr_key(const char *key)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(cidr_keys); i++)
        if (strcmp(cidr_keys[i], key) == 0)
            return true;
    return false;
}

/* An Origin as browsers send it (RFC 6454 6.1): http or https, a host name,
 * IPv4 or [IPv6] address, an optional port, nothing after it. */
static bool origin_ok(const char *s, size_t n)
{
    size_t i;
    if (n > 7 && strncasecmp(s, "http://", 7) == 0)
        i = 7;
    else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
        i = 8;
    else
        return false;
    size_t host = i;
    if (s[i] == '[') {
        while (i < n && s[i] != ']')
            i++;
        if (i == n)
            return false;
        i++;
    } else {
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-'))
            i++;
    }
    if (i == host)
        return false;
    if (i < n && s[i] == ':') {
        size_t port = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == port || i - port > 5)
            return false;
    }
    return i == n;
}

/* Checks a blank- or comma-separated list of origins (ws_allowed_origins). */
static bool origin_list_ok(const char *v, char *why, size_t cap)
{
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, " \t,");
        if (n && !origin_ok(p, n)) {
            snprintf(why, cap, "'%.*s' is not an origin like https://chat.example.com[:port]",
                     (int)PL_MIN(n, 80), p);
            return false;
        }
        p += n;
    }
    return true;
}

/* A WebAuthn rpId is a registrable domain or host name (WebAuthn 5.1.2 via
 * HTML's "valid domain"): letters, digits, '-' and '.', with a letter in its
 * last label, so an IPv4 address (or anything with a port) is refused. */
static bool rp_id_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 253 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n ||
        v[0] == '.' || v[n - 1] == '.' || strstr(v, ".."))
        return false;
    const char *last = strrchr(v, '.');
    last = last ? last + 1 : v;
    return strspn(last, "0123456789") != strlen(last);
}

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const cfg_entry_t *find(const char *key)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(table); i++)
        if (strcmp(table[i].name, key) == 0)
            return &table[i];
    return NULL;
}

/* Parses an integer with an optional k/m/g suffix (sizes only). */
static int parse_int(const char *v, bool size, int64_t *out)
{
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno != 0)
        return PL_EINVAL;
    if (size && *end) {
        long long mul = 1;
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mul = KiB;
            break;
        case 'm':
            mul = MiB;
            break;
        case 'g':
            mul = 1024 * MiB;
            break;
        default:
            return PL_EINVAL;
        }
        end++;
        if (n > INT64_MAX / mul || n < INT64_MIN / mul)
            return PL_EINVAL;
        n *= mul;
    }
    if (*end)
        return PL_EINVAL;
    *out = n;
    return 0;
}

int pl_config_set(pl_config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const cfg_entry_t *e = find(key);
    if (e == NULL) {
        fmt_err(err, errlen, "unknown config key '%s'", key);
        return PL_EINVAL;
    }
    char *slot = (char *)cfg + e->offset;
    switch (e->type) {
    case CFG_INT:
    case CFG_SIZE: {
        int64_t n;
        if (parse_int(value, e->type == CFG_SIZE, &n) < 0) {
            fmt_err(err, errlen, "config key '%s': '%s' is not %s", key, value,
                    e->type == CFG_SIZE ? "a size (like 1048576 or 1m)" : "an integer");
            return PL_EINVAL;
        }
        if (n < e->min || n > e->max) {
            fmt_err(err, errlen,
                    "config key '%s': %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", key,
                    n, e->min, e->max);
            return PL_EINVAL;
        }
        *(int64_t *)slot = n;
        return 0;
    }
    case CFG_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") ||
            !strcmp(value, "1")) {
            *(bool *)slot = true;
        } else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") ||
                   !strcmp(value, "0")) {
            *(bool *)slot = false;
        } else {
            fmt_err(err, errlen, "config key '%s': '%s' is not a boolean (true/false)", key, value);
            return PL_EINVAL;
        }
        return 0;
    case CFG_STR:
        if (!strcmp(key, "log_level") && pl_log_parse_level(value) < 0) {
            fmt_err(err, errlen, "config key 'log_level': '%s' is not one of %s", value,
                    "error, warn, info, debug, trace");
            return PL_EINVAL;
        }
        if (!strcmp(key, "emoji_add_policy") && strcmp(value, "anyone") != 0 &&
            strcmp(value, "nobody") != 0) {
            fmt_err(err, errlen, "config key 'emoji_add_policy': '%s' is not one of %s", value,
                    "anyone, nobody");
            return PL_EINVAL;
        }
        if (!strcmp(key, "registration") && strcmp(value, "open") != 0 &&
            strcmp(value, "invite") != 0 && strcmp(value, "closed") != 0) {
            fmt_err(err, errlen, "config key 'registration': '%s' is not one of %s", value,
                    "open, invite, closed");
            return PL_EINVAL;
        }
        if (!strcmp(key, "store") && strcmp(value, "sqlite") != 0 &&
            strcmp(value, "postgres") != 0) {
            fmt_err(err, errlen, "config key 'store': '%s' is not one of %s", value,
                    "sqlite, postgres");
            return PL_EINVAL;
        }
        if (!strcmp(key, "ws_allowed_origins") || !strcmp(key, "webauthn_origins")) {
            char why[160] = "";
            if (!origin_list_ok(value, why, sizeof why)) {
                fmt_err(err, errlen, "config key '%s': %s", key, why);
                return PL_EINVAL;
            }
        }
        if (!strcmp(key, "webauthn_rp_id") && !rp_id_ok(value)) {
            fmt_err(err, errlen,
                    "config key 'webauthn_rp_id': '%.80s' is not a host name (no scheme, port "
                    "or IP address)",
                    value);
            return PL_EINVAL;
        }
        if (is_cidr_key(key)) {
            char why[160] = "";
            pl_cidr_list_t l;
            int rc = pl_cidr_list_parse(value, &l, why, sizeof why);
            pl_cidr_list_dispose(&l);
            if (rc < 0) {
                fmt_err(err, errlen, "config key '%s': %s", key, why);
                return PL_EINVAL;
            }
        }
        free(*(char **)slot);
        *(char **)slot = pl_xstrdup(value);
        return 0;
    }
    return PL_EINVAL;
}

void pl_config_init(pl_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < PL_ARRAY_LEN(table); i++) {
        int rc = pl_config_set(cfg, table[i].name, table[i].def, NULL, 0);
        (void)rc; /* defaults are valid by construction; the unit test checks it */
    }
}

void pl_config_dispose(pl_config_t *cfg)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(table); i++)
        if (table[i].type == CFG_STR)
            free(*(char **)((char *)cfg + table[i].offset));
    memset(cfg, 0, sizeof *cfg);
}

int pl_config_parse(pl_config_t *cfg, const char *text, size_t len, const char *name, char *err,
                    size_t errlen)
{
    size_t i = 0;
    int lineno = 0;
    while (i < len) {
        lineno++;
        size_t start = i;
        while (i < len && text[i] != '\n')
            i++;
        size_t end = i;
        if (i < len)
            i++; /* skip \n */
        /* trim */
        while (start < end && isspace((unsigned char)text[start]))
            start++;
        while (end > start && isspace((unsigned char)text[end - 1]))
            end--;
        if (start == end || text[start] == '#')
            continue;
        if (memchr(text + start, '\0', end - start)) {
            fmt_err(err, errlen, "%s:%d: NUL byte in line", name, lineno);
            return PL_EINVAL;
        }
        size_t k = start;
        while (k < end && !isspace((unsigned char)text[k]) && text[k] != '=')
            k++;
        size_t v = k;
        while (v < end && (isspace((unsigned char)text[v]) || text[v] == '='))
            v++;
        if (k - start > 64 || v == end) {
            fmt_err(err, errlen, "%s:%d: expected 'key value'", name, lineno);
            return PL_EINVAL;
        }
        char key[65];
        memcpy(key, text + start, k - start);
        key[k - start] = '\0';
        char *value = pl_xstrndup(text + v, end - v);
        char msg[256];
        int rc = pl_config_set(cfg, key, value, msg, sizeof msg);
        free(value);
        if (rc < 0) {
            fmt_err(err, errlen, "%s:%d: %s", name, lineno, msg);
            return rc;
        }
    }
    return 0;
}

int pl_config_load_file(pl_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fmt_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return PL_EIO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > 16 * MiB) {
                fclose(f);
                free(text);
                fmt_err(err, errlen, "%s: config file larger than 16 MiB", path);
                return PL_ETOOBIG;
            }
            text = pl_xrealloc(text, cap);
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    int rc = pl_config_parse(cfg, text, len, path, err, errlen);
    free(text);
    return rc;
}

int pl_config_load_env(pl_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(table); i++) {
        char var[96] = "PARLEYD_";
        size_t n = strlen(var);
        for (const char *p = table[i].name; *p && n < sizeof var - 1; p++)
            var[n++] = (char)toupper((unsigned char)*p);
        var[n] = '\0';
        const char *v = getenv(var);
        if (v == NULL)
            continue;
        char msg[256];
        if (pl_config_set(cfg, table[i].name, v, msg, sizeof msg) < 0) {
            fmt_err(err, errlen, "environment %s: %s", var, msg);
            return PL_EINVAL;
        }
    }
    return 0;
}

int pl_config_split_listen(const char *listen, char *host, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen)
        return PL_EINVAL;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return PL_EINVAL;
        h++;
        hl -= 2;
    }
    if (hl >= 64)
        return PL_EINVAL;
    int64_t p;
    if (parse_int(colon + 1, false, &p) < 0 || p < 0 || p > 65535)
        return PL_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* WebAuthn 5.1.3 / 13.4.9: a page may use passkeys of rpId R only when its
 * host is R or a subdomain of R. Returns the first webauthn_origins entry
 * whose host is neither (its length in *n), or NULL. */
static const char *webauthn_origin_outside(const pl_config_t *cfg, size_t *n)
{
    const char *rp = cfg->webauthn_rp_id;
    size_t rl = strlen(rp);
    for (const char *p = cfg->webauthn_origins; *p;) {
        p += strspn(p, " \t,");
        *n = strcspn(p, " \t,");
        if (*n == 0)
            break;
        const char *h = memchr(p, '/', *n) ? strstr(p, "://") + 3 : p; /* checked at set */
        size_t hl = strcspn(h, ":/ \t,");
        bool ok = (hl == rl || (hl > rl && h[hl - rl - 1] == '.')) &&
                  strncasecmp(h + hl - rl, rp, rl) == 0;
        if (!ok)
            return p;
        p += *n;
    }
    return NULL;
}

int pl_config_validate(const pl_config_t *cfg, char *err, size_t errlen)
{
    char host[64];
    int port;
    size_t on = 0;
    const char *bad_origin = webauthn_origin_outside(cfg, &on);
    if (bad_origin) {
        fmt_err(err, errlen,
                "config key 'webauthn_origins': '%.*s' is not on webauthn_rp_id '%s' or a "
                "subdomain of it",
                (int)PL_MIN(on, 80), bad_origin, cfg->webauthn_rp_id);
        return PL_EINVAL;
    }
    if (pl_config_split_listen(cfg->listen, host, &port) < 0) {
        fmt_err(err, errlen, "config key 'listen': '%s' is not HOST:PORT", cfg->listen);
        return PL_EINVAL;
    }
    if (cfg->ws_idle_timeout_ms <= cfg->ws_ping_interval_ms) {
        fmt_err(err, errlen,
                "config key 'ws_idle_timeout_ms' must be larger than "
                "'ws_ping_interval_ms'");
        return PL_EINVAL;
    }
    if (cfg->max_content_bytes + 4096 > cfg->max_ws_message) {
        fmt_err(err, errlen,
                "config key 'max_content_bytes' must be at least 4096 bytes "
                "smaller than 'max_ws_message'");
        return PL_EINVAL;
    }
    size_t tk = strlen(cfg->totp_secret_key);
    if (tk != 0 && (tk != 64 || strspn(cfg->totp_secret_key, "0123456789abcdefABCDEF") != 64)) {
        fmt_err(err, errlen, "config key 'totp_secret_key' must be empty or 64 hex digits");
        return PL_EINVAL;
    }
    if (cfg->message_retention_ms > 0 && cfg->message_retention_ms < 1000) {
        fmt_err(err, errlen, "config key 'message_retention_ms' must be 0 or at least 1000");
        return PL_EINVAL;
    }
    /* email (issue 13, src/jobs/jobs_smtp.c): libcurl would take any scheme */
    if (cfg->smtp_url[0] != '\0' && strncmp(cfg->smtp_url, "smtp://", 7) != 0 &&
        strncmp(cfg->smtp_url, "smtps://", 8) != 0) {
        fmt_err(err, errlen,
                "config key 'smtp_url' must be empty, smtp://HOST[:PORT] or "
                "smtps://HOST[:PORT]");
        return PL_EINVAL;
    }
    /* Web Push (issue 15): the VAPID sub claim goes into a JWT as is */
    if (strncmp(cfg->push_subject, "mailto:", 7) != 0 &&
        strncmp(cfg->push_subject, "https://", 8) != 0) {
        fmt_err(err, errlen, "config key 'push_subject' must be a mailto: or https: URI");
        return PL_EINVAL;
    }
    for (const char *c = cfg->push_subject; *c != '\0'; c++)
        if (*c < 0x21 || *c > 0x7e || *c == '"' || *c == '\\') {
            fmt_err(err, errlen, "config key 'push_subject' must be printable ASCII, no quotes");
            return PL_EINVAL;
        }
    if (cfg->tls_listen[0] != '\0') {
        if (pl_config_split_listen(cfg->tls_listen, host, &port) < 0) {
            fmt_err(err, errlen, "config key 'tls_listen': '%s' is not HOST:PORT", cfg->tls_listen);
            return PL_EINVAL;
        }
        if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
            fmt_err(err, errlen, "config key 'tls_listen' needs 'tls_cert' and 'tls_key'");
            return PL_EINVAL;
        }
    }
    /* cluster failure detection: a peer must miss several heartbeats */
    if (cfg->cluster_peer_timeout_ms < 3 * cfg->cluster_heartbeat_ms) {
        fmt_err(err, errlen,
                "config key 'cluster_peer_timeout_ms' must be at least 3 times "
                "'cluster_heartbeat_ms'");
        return PL_EINVAL;
    }
    if (cfg->tls_redirect && cfg->tls_listen[0] == '\0') {
        fmt_err(err, errlen, "config key 'tls_redirect' needs 'tls_listen'");
        return PL_EINVAL;
    }
    if (cfg->stats_token[0] != '\0' && strlen(cfg->stats_token) < 16) {
        fmt_err(err, errlen, "config key 'stats_token' must be empty or at least 16 characters");
        return PL_EINVAL;
    }
    /* media on S3 */
    if (strcmp(cfg->media_store, "local") != 0 && strcmp(cfg->media_store, "s3") != 0) {
        fmt_err(err, errlen, "config key 'media_store': '%s' is not local or s3", cfg->media_store);
        return PL_EINVAL;
    }
    if (!strcmp(cfg->media_store, "s3")) {
        if (strncmp(cfg->s3_endpoint, "http://", 7) != 0 &&
            strncmp(cfg->s3_endpoint, "https://", 8) != 0) {
            fmt_err(err, errlen, "config key 's3_endpoint' must be an http:// or https:// URL");
            return PL_EINVAL;
        }
        /* S3 bucket naming rules: 3-63 of [a-z0-9.-]; this also keeps the
         * name safe in a host name and a path. */
        size_t bl = strlen(cfg->s3_bucket);
        if (bl < 3 || bl > 63 ||
            strspn(cfg->s3_bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != bl) {
            fmt_err(err, errlen, "config key 's3_bucket' must be 3-63 characters of [a-z0-9.-]");
            return PL_EINVAL;
        }
        if (cfg->s3_access_key[0] == '\0' || cfg->s3_secret_key[0] == '\0' ||
            strspn(cfg->s3_region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                strlen(cfg->s3_region) ||
            cfg->s3_region[0] == '\0') {
            fmt_err(err, errlen,
                    "media_store s3 needs s3_access_key, s3_secret_key and an s3_region of "
                    "[a-z0-9-]");
            return PL_EINVAL;
        }
    }
    return 0;
}

void pl_config_print(const pl_config_t *cfg, FILE *out)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(table); i++) {
        const cfg_entry_t *e = &table[i];
        const char *slot = (const char *)cfg + e->offset;
        fprintf(out, "# %s\n", e->help);
        switch (e->type) {
        case CFG_INT:
        case CFG_SIZE:
            fprintf(out, "%s %" PRId64 "\n", e->name, *(const int64_t *)slot);
            break;
        case CFG_BOOL:
            fprintf(out, "%s %s\n", e->name, *(const bool *)slot ? "true" : "false");
            break;
        case CFG_STR: {
            const char *v = *(char *const *)slot;
            /* An empty value cannot be written as `key value`: comment it
             * out, so the output parses back. Secrets are never printed. */
            if (v[0] == '\0')
                fprintf(out, "# %s (empty)\n", e->name);
            else if (is_secret_key(e->name))
                fprintf(out, "# %s (set; not shown)\n", e->name);
            else
                fprintf(out, "%s %s\n", e->name, v);
            break;
        }
        }
    }
}
