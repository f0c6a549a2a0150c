/* SPDX-License-Identifier: MIT */
/* auth.c -- usernames, tokens and Argon2id on the thread pool. */
#include "auth/auth.h"

#include <ctype.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

bool pl_auth_username_normalize(const char *in, char *out)
{
    size_t n = strlen(in);
    if (n < 1 || n > PL_USERNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!(isalnum(c) || c == '_' || c == '.' || c == '-') || c >= 0x80)
            return false;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return true;
}

bool pl_auth_username_registrable(const char *norm)
{
    for (const char *p = norm; *p; p++)
        if (isalnum((unsigned char)*p))
            return true;
    return false;
}

void pl_auth_token_new(char out[PL_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, PL_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void pl_auth_token_hash(const char *token, size_t len, unsigned char out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)token, len);
}

typedef struct {
    uv_work_t req;
    char *password;
    char *hash; /* in: hash to verify (verify) / out: encoded hash (hash) */
    uint64_t opslimit;
    size_t memlimit;
    int status;
    bool ok;
    pl_auth_hash_cb hash_cb;
    pl_auth_verify_cb verify_cb;
    void *arg;
} pw_job_t;

static void job_free(pw_job_t *j)
{
    if (j->password) {
        sodium_memzero(j->password, strlen(j->password));
        free(j->password);
    }
    free(j->hash);
    free(j);
}

static void hash_work(uv_work_t *req)
{
    pw_job_t *j = req->data;
    j->hash = pl_xmalloc(crypto_pwhash_STRBYTES);
    if (crypto_pwhash_str(j->hash, j->password, strlen(j->password), j->opslimit, j->memlimit) != 0)
        j->status = PL_ENOMEM; /* libsodium fails only when it cannot allocate */
}

static void hash_done(uv_work_t *req, int status)
{
    pw_job_t *j = req->data;
    if (status < 0 && j->status == 0)
        j->status = status;
    j->hash_cb(j->arg, j->status, j->status == 0 ? j->hash : NULL);
    job_free(j);
}

void pl_auth_hash_password(uv_loop_t *loop, const char *password, uint64_t opslimit,
                           size_t memlimit, pl_auth_hash_cb cb, void *arg)
{
    pw_job_t *j = pl_xcalloc(1, sizeof *j);
    j->req.data = j;
    j->password = pl_xstrdup(password);
    j->opslimit = opslimit;
    j->memlimit = memlimit;
    j->hash_cb = cb;
    j->arg = arg;
    int rc = uv_queue_work(loop, &j->req, hash_work, hash_done);
    if (rc < 0) {
        pl_log(PL_LOG_ERROR, "auth", "queue hash job err=%s", uv_strerror(rc));
        cb(arg, rc, NULL);
        job_free(j);
    }
}

static _Atomic uint64_t verifications; /* Argon2id verifications run (pool threads) */

uint64_t pl_auth_password_verifications(void)
{
    return atomic_load(&verifications);
}

static void verify_work(uv_work_t *req)
{
    pw_job_t *j = req->data;
    atomic_fetch_add(&verifications, 1);
    if (j->hash == NULL) {
        /* Unknown user: spend the same time on a throwaway hash so the
         * response time does not reveal which usernames exist. */
        char dummy[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(dummy, j->password, strlen(j->password), j->opslimit, j->memlimit) ==
            0)
            if (crypto_pwhash_str_verify(dummy, "-", 1) == 0)
                pl_log(PL_LOG_DEBUG, "auth", "dummy verify matched (harmless)");
        j->ok = false;
        return;
    }
    j->ok = crypto_pwhash_str_verify(j->hash, j->password, strlen(j->password)) == 0;
}

static void verify_done(uv_work_t *req, int status)
{
    pw_job_t *j = req->data;
    j->verify_cb(j->arg, status == 0 && j->ok);
    job_free(j);
}

void pl_auth_verify_password(uv_loop_t *loop, const char *password, const char *hash,
                             uint64_t opslimit, size_t memlimit, pl_auth_verify_cb cb, void *arg)
{
    pw_job_t *j = pl_xcalloc(1, sizeof *j);
    j->req.data = j;
    j->password = pl_xstrdup(password);
    j->hash = hash ? pl_xstrdup(hash) : NULL;
    j->opslimit = opslimit;
    j->memlimit = memlimit;
    j->verify_cb = cb;
    j->arg = arg;
    int rc = uv_queue_work(loop, &j->req, verify_work, verify_done);
    if (rc < 0) {
        pl_log(PL_LOG_ERROR, "auth", "queue verify job err=%s", uv_strerror(rc));
        cb(arg, false);
        job_free(j);
    }
}

bool pl_auth_bearer_hash(const char *h, unsigned char out[32])
{
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0' || strlen(h + 7) > 256)
        return false;
    pl_auth_token_hash(h + 7, strlen(h + 7), out);
    return true;
}
