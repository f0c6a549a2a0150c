/* SPDX-License-Identifier: MIT */
/* api_operator.c -- the operator commands run on the store's direct
 * connection while the server may be running: --reset-link USER and
 * --invite-code. Both print a secret once; only its hash is stored. */
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

/* ---- operator commands: parleyd --data DIR --reset-link USER / --invite-code ---- */

int pl_api_operator_command(pl_store_t *st, const pl_config_t *cfg, const char *cmd,
                            const char *arg, char *out, size_t cap)
{
    pl_db_t *db = pl_store_direct(st);
    char token[PL_TOKEN_LEN + 1];
    uint8_t h[32];
    int64_t now = pl_now_ms();
    pl_auth_token_new(token);
    pl_auth_token_hash(token, strlen(token), h);
    int rc;
    if (!strcmp(cmd, "reset-link")) {
        char norm[PL_USERNAME_MAX + 1];
        pl_user_t u = {0};
        if (!pl_auth_username_normalize(arg, norm) || pl_db_user_by_name(db, norm, &u) < 0) {
            snprintf(out, cap, "no user named '%s'", arg);
            return PL_ENOTFOUND;
        }
        rc = pl_db_reset_token_create(db, u.id, h, now, now + cfg->reset_link_ttl_ms);
        pl_user_dispose(&u);
        const char *base = cfg->public_url;
        size_t bl = strlen(base);
        if (rc == 0)
            snprintf(out, cap, "%.*s/#reset=%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
                     base, token);
    } else if (!strcmp(cmd, "invite-code")) {
        rc = pl_db_invite_code_create(db, h, now, now + cfg->invite_code_ttl_ms);
        if (rc == 0)
            snprintf(out, cap, "%s", token);
    } else {
        rc = PL_EINVAL;
    }
    if (rc < 0 && rc != PL_EINVAL)
        snprintf(out, cap, "storage error: %s", pl_strerror(rc));
    sodium_memzero(token, sizeof token);
    return rc;
}
