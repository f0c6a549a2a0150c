/* SPDX-License-Identifier: MIT */
/* dispatch.c -- the op table: a request parsed by the command
 * layer goes to its handler, or its error is the answer. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- ping (application-level, for clients that cannot send WS pings) ---- */

void pl_ops_ping(session_t *s, pl_cmd_t *c)
{
    char f[48];
    int n = snprintf(f, sizeof f, ",\"ts\":%" PRId64, pl_now_ms());
    pl_wire_reply_ok(s, c->id, f, (size_t)n);
}

/* ---- the table ---- */

/* Indexed by pl_op_t: the command layer has parsed and validated the
 * request; what is left needs the session and the store. */
static void (*const handlers[PL_OP__COUNT])(session_t *s, pl_cmd_t *c) = {
    [PL_OP_AUTH] = pl_ops_auth,
    [PL_OP_PING] = pl_ops_ping,
    [PL_OP_CREATE_ROOM] = pl_ops_create_room,
    [PL_OP_JOIN] = pl_ops_join,
    [PL_OP_LEAVE] = pl_ops_leave,
    [PL_OP_INVITE] = pl_ops_invite,
    [PL_OP_INVITES] = pl_ops_invites,
    [PL_OP_DECLINE] = pl_ops_decline,
    [PL_OP_ROOMS] = pl_ops_rooms,
    [PL_OP_SEND] = pl_ops_send,
    [PL_OP_HISTORY] = pl_ops_history,
    [PL_OP_SYNC] = pl_ops_sync,
    [PL_OP_READ] = pl_ops_read,
    [PL_OP_EDIT] = pl_ops_edit,
    [PL_OP_DELETE] = pl_ops_delete,
    [PL_OP_REACT] = pl_ops_react,
    [PL_OP_TYPING] = pl_ops_typing,
    [PL_OP_DELIVERED] = pl_ops_delivered,
    [PL_OP_RECEIPTS] = pl_ops_receipts,
    [PL_OP_THREAD] = pl_ops_thread,
    [PL_OP_ROOM_SETTINGS] = pl_ops_room_settings,
    [PL_OP_PRESENCE] = pl_ops_presence,
    [PL_OP_PRESENCE_QUERY] = pl_ops_presence_query,
    [PL_OP_PROFILE_GET] = pl_ops_profile_get,
    [PL_OP_PROFILE_SET] = pl_ops_profile_set,
    [PL_OP_SETTINGS_GET] = pl_ops_settings_get,
    [PL_OP_SETTINGS_SET] = pl_ops_settings_set,
    [PL_OP_SEARCH] = pl_ops_search,
    [PL_OP_EMOJI_ADD] = pl_ops_emoji_add,
    [PL_OP_EMOJI_REMOVE] = pl_ops_emoji_remove,
    [PL_OP_EMOJI_LIST] = pl_ops_emoji_list,
    [PL_OP_PUSH_KEY] = pl_ops_push_key,
    [PL_OP_PUSH_SUBSCRIBE] = pl_ops_push_subscribe,
    [PL_OP_PUSH_UNSUBSCRIBE] = pl_ops_push_unsubscribe,
    [PL_OP_PUSH_SUBSCRIPTIONS] = pl_ops_push_subscriptions,
    [PL_OP_PUSH_SETTINGS_GET] = pl_ops_push_settings_get,
    [PL_OP_PUSH_SETTINGS_SET] = pl_ops_push_settings_set,
    /* calls (issue 19) */
    [PL_OP_CALL_INVITE] = pl_ops_call_invite,
    [PL_OP_CALL_RING] = pl_ops_call_ring,
    [PL_OP_CALL_ANSWER] = pl_ops_call_answer,
    [PL_OP_CALL_REJECT] = pl_ops_call_reject,
    [PL_OP_CALL_CANCEL] = pl_ops_call_cancel,
    [PL_OP_CALL_HANGUP] = pl_ops_call_hangup,
    [PL_OP_CALL_JOIN] = pl_ops_call_join,
    [PL_OP_CALL_LEAVE] = pl_ops_call_leave,
    [PL_OP_CALL_SIGNAL] = pl_ops_call_signal,
    [PL_OP_TURN_CREDENTIALS] = pl_ops_turn_credentials,
    [PL_OP_SET_ROLE] = pl_ops_set_role, /* moderation (issue 17): mod.c */
    [PL_OP_KICK] = pl_ops_kick,
    [PL_OP_BAN] = pl_ops_ban,
    [PL_OP_UNBAN] = pl_ops_unban,
    [PL_OP_MUTE] = pl_ops_mute,
    [PL_OP_BANS] = pl_ops_bans,
    [PL_OP_AUDIT] = pl_ops_audit,
    [PL_OP_WEBHOOK_CREATE] = pl_ops_webhook_create, /* issue 16 */
    [PL_OP_WEBHOOKS] = pl_ops_webhooks,
    [PL_OP_WEBHOOK_REVOKE] = pl_ops_webhook_revoke,
};

void pl_ops_dispatch(session_t *s, const char *data, size_t len)
{
    pl_cmd_t c;
    pl_cmd_err_t err;
    int rc = pl_cmd_parse(data, len, s->chat->cfg, &c, &err);
    /* A known op before auth is refused as such whatever its arguments,
     * as it was before arguments were parsed ahead of the handlers. */
    if (c.op != PL_OP__COUNT && pl_cmd_needs_auth(c.op) && s->user_id == 0)
        pl_wire_reply_err(s, c.id, "unauthenticated", "send {\"op\":\"auth\",\"token\":...} first");
    else if (rc < 0 && c.root != NULL)
        pl_wire_reply_err(s, c.id, err.code, err.msg);
    else if (rc < 0) /* not parsed: the id as found in the text */
        pl_reply__frame(s, pl_wire_err_frame(c.re, c.re_len, err.code, err.msg, 0), PL_OUT_REPLY,
                        NULL);
    else
        handlers[c.op](s, &c);
    pl_cmd_dispose(&c);
}
