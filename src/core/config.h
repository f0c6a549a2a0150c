/* SPDX-License-Identifier: MIT */
/* config.h -- parleyd configuration: one typed table of keys with defaults and
 * bounds. Sources, later wins: defaults, config file (`key value` lines),
 * PARLEYD_<KEY> environment variables, command-line flags. */
#ifndef PL_CORE_CONFIG_H
#define PL_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    /* network */
    char *listen;            /* HOST:PORT */
    int64_t max_connections; /* open TCP connections */
    int64_t threads;         /* loop threads (0 = number of online CPUs); see net/loops.c */
    /* HTTP */
    int64_t max_http_header_bytes; /* request line + headers */
    int64_t max_http_body_bytes;   /* JSON request bodies */
    int64_t http_idle_timeout_ms;  /* keep-alive idle / slow request timeout */
    char *web_root;                /* directory served at / */
    /* WebSocket */
    int64_t max_ws_message;      /* bytes after reassembly; larger => close 1009 */
    int64_t max_write_queue;     /* queued outbound bytes per connection; past it => close 4008 */
    int64_t ws_ping_interval_ms; /* server pings an idle connection this often */
    int64_t ws_idle_timeout_ms;  /* no bytes from the peer this long => close */
    bool ws_echo;                /* enable the /v1/echo conformance endpoint */
    /* chat */
    int64_t max_content_bytes;      /* serialized message content */
    int64_t max_client_id_len;      /* bytes */
    int64_t max_room_name;          /* bytes */
    int64_t max_group_members;      /* members per group */
    int64_t history_max_limit;      /* upper bound of history `limit` */
    int64_t sync_max_messages;      /* messages per sync reply before `more` */
    int64_t sync_ring_size;         /* recent message events kept per room (0: off) */
    int64_t rate_limit_per_sec;     /* requests per second per user, all connections (burst = 2x) */
    int64_t min_disappearing_ms;    /* shortest disappearing timer (ttl_ms, room_settings) */
    int64_t sweep_interval_ms;      /* how often expired messages are deleted */
    int64_t message_retention_ms;   /* server-wide retention: older messages deleted (0: off) */
    int64_t presence_grace_ms;      /* a user goes offline this long after the last session */
    int64_t max_reactions_per_user; /* different emoji one user may put on one message */
    /* group membership and invitations (chat/ops_members.c) */
    int64_t room_create_per_hour;         /* rooms (groups, new dms) one user may create */
    int64_t member_adds_per_hour;         /* people one user may add to or invite into groups */
    int64_t max_pending_invites_per_user; /* live invitations one user can hold */
    int64_t max_pending_invites_per_room; /* live invitations to one group */
    int64_t invite_ttl_ms;                /* an invitation expires this long after it was made */
    /* auth */
    int64_t argon2_opslimit; /* libsodium crypto_pwhash opslimit */
    int64_t argon2_memlimit; /* bytes */
    int64_t max_sessions_per_user;
    /* media */
    int64_t max_upload_bytes;     /* one POST /v1/media body; larger => 413 too_large */
    int64_t max_image_pixels;     /* width * height above which no thumbnail is made */
    int64_t media_gc_grace_ms;    /* unreferenced uploads live this long */
    int64_t media_gc_interval_ms; /* garbage-collection sweep period */
    char *emoji_add_policy;       /* who may add custom emoji: "anyone" or "nobody" */
    /* store */
    char *data_dir;
    int64_t commit_batch_max; /* write jobs per group commit */
    int64_t commit_wait_us;   /* wait this long to fill a batch (0: no wait) */
    int64_t store_read_threads;
    /* logging */
    char *log_level;
    /* clients behind proxies */
    char *trusted_proxies; /* CIDR list (core/addr.h); "" = none */
    /* network hardening (net/, http/, ws/) */
    int64_t max_connections_per_ip;  /* per client address (IPv6: /64); 0 = no cap */
    int64_t fd_reserve;              /* fds kept free besides connections */
    int64_t max_http_unsent_bytes;   /* unsent answers that stop pipelined parsing */
    int64_t http_keepalive_requests; /* requests per HTTP connection */
    int64_t http_keepalive_time_ms;  /* age at which an HTTP connection closes */
    int64_t ws_auth_timeout_ms;      /* upgrade to auth, else close 4001 */
    int64_t max_ws_preauth_message;  /* max_ws_message before auth (1009) */
    char *ws_allowed_origins;        /* Origin allow list for upgrades; "" = any */
    /* chat: replies and request limits (hardening) */
    int64_t max_reply_bytes;       /* bytes of one list reply page; the reply window */
    int64_t max_inflight_requests; /* requests of one connection being answered at once */
    int64_t rate_limit_ip_per_sec; /* WebSocket requests per second per address before auth */
    int64_t rate_limit_ip_keys;    /* addresses the pre-auth limiter tracks (LRU) */
    /* account endpoints and stats (src/api, src/auth/auth_limits.c) */
    int64_t register_per_ip_hour;               /* registrations per address per hour */
    int64_t login_per_ip_min;                   /* login attempts per address per minute */
    int64_t login_failures_per_ip_hour;         /* failed logins per address */
    int64_t login_failures_per_account_ip_hour; /* failed logins per (account, address) */
    int64_t login_failures_per_account_hour;    /* failed logins per account, unknown addresses */
    int64_t auth_limit_max_keys;                /* entries per limit table */
    char *stats_allow;                          /* CIDR list served /v1/stats */
    char *stats_token;                          /* Bearer token for /v1/stats; "" = none */
    /* media decoding (src/media) */
    int64_t media_decode_threads;   /* decode threads (not the libuv pool) */
    int64_t media_decode_queue_max; /* decodes waiting; past it: no thumbnail */
    int64_t max_image_decode_bytes; /* estimated memory of one decode; past it: no thumbnail */
    /* accounts: MFA, password policy and resets, registration mode, login
     * backoff (issue 12, src/api/api_account.c, src/auth/) */
    char *registration;                  /* "open", "invite" (invite_code needed) or "closed" */
    int64_t invite_code_ttl_ms;          /* parleyd --invite-code: valid this long */
    int64_t reset_link_ttl_ms;           /* parleyd --reset-link: valid this long */
    char *public_url;                    /* base URL printed in reset links; "" = relative */
    char *password_blocklist;            /* file of common passwords refused as weak */
    char *totp_issuer;                   /* issuer name shown by authenticator apps */
    int64_t mfa_ticket_max;              /* pending second login steps kept (per node) */
    int64_t login_backoff_free_failures; /* failures per (account, address) before backoff */
    int64_t login_backoff_max_ms;        /* longest backoff delay */
    char *totp_secret_key;               /* 64 hex digits sealing TOTP secrets at rest; "" = none */
    /* passkeys / WebAuthn (src/auth/webauthn.c, src/api/api_passkey.c) */
    char *webauthn_rp_id;               /* relying party id: a host name, no port, not an IP */
    char *webauthn_rp_name;             /* shown by the browser when a passkey is made */
    char *webauthn_origins;             /* origins clientDataJSON may name (exact match) */
    int64_t webauthn_challenges_max;    /* outstanding challenges, all addresses */
    int64_t webauthn_challenges_per_ip; /* outstanding challenges per address (IPv6: /64) */
    /* built-in TLS (issue 12, src/net/tls.c) */
    char *tls_listen;                 /* HOST:PORT of the https/wss listener; "" = off */
    char *tls_cert;                   /* PEM certificate chain (reloaded on SIGHUP) */
    char *tls_key;                    /* PEM private key (reloaded on SIGHUP) */
    bool tls_redirect;                /* plain HTTP requests get 301 to https */
    int64_t hsts_max_age;             /* Strict-Transport-Security max-age; 0 = no header */
    int64_t tls_handshake_timeout_ms; /* accept to finished handshake, else closed */
    /* privacy of deleted data (store/store_sqlite_index.c, store_sqlite.c) */
    int64_t purge_delay_ms; /* removed text leaves the data files this long after the change */
    /* media on S3 (src/media/media_store_s3.c) */
    char *media_store;      /* "local" (data_dir/media) or "s3" */
    char *s3_endpoint;      /* http(s)://host[:port] of the S3 API */
    char *s3_bucket;        /* bucket name */
    char *s3_region;        /* SigV4 region, e.g. us-east-1 */
    char *s3_access_key;    /* secret: never printed or logged */
    char *s3_secret_key;    /* secret: never printed or logged */
    bool s3_path_style;     /* endpoint/bucket/key (true) or bucket.endpoint/key */
    int64_t s3_part_size;   /* multipart part size; smaller objects: one PUT */
    int64_t s3_timeout_ms;  /* one S3 request, connect to last byte */
    int64_t s3_retries;     /* extra attempts of an idempotent request (backoff) */
    int64_t s3_cache_bytes; /* local copies kept for thumbnailing (data_dir/media/cache) */
    /* store backend selection (issue 13: PostgreSQL store backend) */
    char *store;       /* "sqlite" (default) or "postgres" */
    char *pg_conninfo; /* libpq conninfo string; "" = libpq defaults and PG* environment */
    /* cluster: Redis bus, readiness and draining (src/cluster, issue 13) */
    char *redis;                    /* "host:port" or a unix socket path; "" = single node */
    char *node_id;                  /* this node's name on the bus; "" = hostname-pid */
    int64_t drain_ms;               /* SIGTERM: /readyz 503 this long before closing */
    int64_t redis_reconnect_max_ms; /* cap of the reconnect backoff */
    /* cluster shared state: presence with a TTL per node and per-user rate
     * limits in Redis (src/cluster/state.c, src/chat/shared.c; issue 13) */
    int64_t presence_ttl_ms;       /* a node silent this long: its users go offline */
    int64_t presence_heartbeat_ms; /* a node renews its presence this often */
    int64_t rate_sync_ms;          /* local request counts go to Redis this often */
    /* cluster failure detection: peer heartbeats (src/cluster, issue 13: node failures) */
    int64_t cluster_heartbeat_ms;    /* a node publishes that it is alive this often */
    int64_t cluster_peer_timeout_ms; /* a peer silent this long is taken for dead: catch up */
    /* durable background jobs (issue 13, src/jobs/jobs.c) */
    int64_t jobs_workers;       /* handlers running at once on this node; 0: no runner */
    int64_t jobs_poll_ms;       /* claim poll period (enqueues on this node wake it at once) */
    int64_t jobs_timeout_ms;    /* one handler run, then it fails (lease: this + 60 s) */
    int64_t jobs_retry_base_ms; /* first retry delay; doubles per attempt, +-20 % jitter */
    int64_t jobs_retry_max_ms;  /* longest delay between two attempts */
    int64_t jobs_max_attempts;  /* attempts before a job is dead (kept for an operator) */
    int64_t jobs_retention_ms;  /* done jobs are deleted this long after they finished */
    /* email over SMTP (issue 12 reset links; src/jobs/jobs_smtp.c) */
    char *smtp_url;      /* smtp://host[:port] or smtps://host[:port]; "" = no email */
    char *smtp_from;     /* envelope and From: address */
    char *smtp_user;     /* SMTP AUTH user; "" = no AUTH */
    char *smtp_password; /* secret: never printed or logged */
    /* Web Push (issue 15, src/push/): VAPID keys in data_dir, deliveries as
     * `push` jobs */
    bool push_enabled;              /* false: no subscriptions, no pushes */
    char *push_subject;             /* VAPID `sub` claim: mailto: or https: contact */
    int64_t push_ttl_s;             /* TTL header: how long the push service keeps a push */
    int64_t push_max_subscriptions; /* per user (one per browser/device) */
    int64_t push_timeout_ms;        /* one POST to a push service, connect included */
    bool push_content_free;         /* server default of the per-user content-free setting */
    bool push_allow_local;          /* TESTS ONLY: http:// and loopback/private endpoints */
    /* idle connection memory (issue 14, store/store_sqlite.c) */
    int64_t store_reader_cache_bytes; /* page cache per SQLite reader; 0: SQLite's default */
    /* voice and video calls (issue 19, src/chat/calls.c): signalling only */
    int64_t call_ring_timeout_ms;     /* unanswered this long: a missed call */
    int64_t call_max_calls;           /* calls in memory on this node at once */
    int64_t call_max_participants;    /* mesh group calls: people in one call */
    int64_t call_max_sdp_bytes;       /* one call_signal's SDP or candidate text */
    int64_t call_max_signals;         /* call_signal relayed per call, all parties */
    int64_t call_signal_rate_per_sec; /* call ops per user and second (burst 4x) */
    char *turn_urls;                  /* comma-separated turn:/turns: URLs; "" = none */
    char *stun_urls;                  /* comma-separated stun: URLs; "" = none */
    char *turn_secret;                /* coturn static-auth-secret; secret, never printed */
    int64_t turn_ttl_s;               /* lifetime of TURN credentials */
    /* integrations (issue 16, src/hooks/, chat/webhooks.c, api/api_hooks.c) */
    int64_t webhooks_per_room;    /* live incoming webhooks per room */
    int64_t webhook_max_body;     /* bytes of one incoming-webhook request body */
    int64_t webhook_rate_per_min; /* posts per minute per incoming webhook (sustained) */
    int64_t webhook_burst;        /* ... and its burst */
} pl_config_t;

/** Fills cfg with defaults. Free with pl_config_dispose(). */
void pl_config_init(pl_config_t *cfg);
void pl_config_dispose(pl_config_t *cfg);

/** Sets one key from its text value. On error returns PL_EINVAL and writes a
 * message naming the key into err (errlen bytes). */
int pl_config_set(pl_config_t *cfg, const char *key, const char *value, char *err, size_t errlen);

/** Parses `key value` lines (# comments, blank lines). Pure: no I/O. name is
 * used in messages ("file:line: ..."). */
int pl_config_parse(pl_config_t *cfg, const char *text, size_t len, const char *name, char *err,
                    size_t errlen);

/** Reads and parses a file. */
int pl_config_load_file(pl_config_t *cfg, const char *path, char *err, size_t errlen);

/** Applies PARLEYD_<UPPERCASE_KEY> environment variables. */
int pl_config_load_env(pl_config_t *cfg, char *err, size_t errlen);

/** Checks cross-key rules (e.g. listen address syntax). */
int pl_config_validate(const pl_config_t *cfg, char *err, size_t errlen);

/** Prints every key with its effective value, in config-file syntax. */
void pl_config_print(const pl_config_t *cfg, FILE *out);

/** Splits "HOST:PORT" (IPv6 as "[::1]:80"). host must hold 64 bytes. */
int pl_config_split_listen(const char *listen, char *host, int *port);

#endif
