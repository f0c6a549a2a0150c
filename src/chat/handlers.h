/* SPDX-License-Identifier: MIT */
/* handlers.h -- the op handlers, one per op of docs/protocol.md, by concept
 * file. Each takes a session and the command parsed and validated by the
 * command layer (command.h), checks what needs the session (membership,
 * state, per-user limits), and answers exactly once: at once, or from the
 * done callback of its store job. The command is borrowed; a handler may
 * take an owned argument (setting it to NULL) to keep it past its return.
 * Loop thread. Only dispatch.c calls these. */
#ifndef PL_CHAT_HANDLERS_H
#define PL_CHAT_HANDLERS_H

#include "chat/command.h"

typedef struct session session_t;

/* sync.c */
void pl_ops_auth(session_t *s, pl_cmd_t *c);
void pl_ops_sync(session_t *s, pl_cmd_t *c);
/* dispatch.c */
void pl_ops_ping(session_t *s, pl_cmd_t *c);
/* rooms.c */
void pl_ops_create_room(session_t *s, pl_cmd_t *c);
void pl_ops_rooms(session_t *s, pl_cmd_t *c);
void pl_ops_room_settings(session_t *s, pl_cmd_t *c);
/* members.c */
void pl_ops_join(session_t *s, pl_cmd_t *c);
void pl_ops_leave(session_t *s, pl_cmd_t *c);
void pl_ops_invite(session_t *s, pl_cmd_t *c);
void pl_ops_invites(session_t *s, pl_cmd_t *c);
void pl_ops_decline(session_t *s, pl_cmd_t *c);
/* messages.c */
void pl_ops_send(session_t *s, pl_cmd_t *c);
void pl_ops_history(session_t *s, pl_cmd_t *c);
void pl_ops_edit(session_t *s, pl_cmd_t *c);
void pl_ops_delete(session_t *s, pl_cmd_t *c);
/* reactions.c */
void pl_ops_react(session_t *s, pl_cmd_t *c);
/* receipts.c */
void pl_ops_read(session_t *s, pl_cmd_t *c);
void pl_ops_delivered(session_t *s, pl_cmd_t *c);
void pl_ops_receipts(session_t *s, pl_cmd_t *c);
/* threads.c */
void pl_ops_thread(session_t *s, pl_cmd_t *c);
/* presence.c */
void pl_ops_typing(session_t *s, pl_cmd_t *c);
void pl_ops_presence(session_t *s, pl_cmd_t *c);
void pl_ops_presence_query(session_t *s, pl_cmd_t *c);
/* profile.c */
void pl_ops_profile_get(session_t *s, pl_cmd_t *c);
void pl_ops_profile_set(session_t *s, pl_cmd_t *c);
void pl_ops_settings_get(session_t *s, pl_cmd_t *c);
void pl_ops_settings_set(session_t *s, pl_cmd_t *c);
/* search.c */
void pl_ops_search(session_t *s, pl_cmd_t *c);
/* custom_emoji.c */
void pl_ops_emoji_add(session_t *s, pl_cmd_t *c);
void pl_ops_emoji_remove(session_t *s, pl_cmd_t *c);
void pl_ops_emoji_list(session_t *s, pl_cmd_t *c);
/* push_ops.c: Web Push (issue 15) */
void pl_ops_push_key(session_t *s, pl_cmd_t *c);
void pl_ops_push_subscribe(session_t *s, pl_cmd_t *c);
void pl_ops_push_unsubscribe(session_t *s, pl_cmd_t *c);
void pl_ops_push_subscriptions(session_t *s, pl_cmd_t *c);
void pl_ops_push_settings_get(session_t *s, pl_cmd_t *c);
void pl_ops_push_settings_set(session_t *s, pl_cmd_t *c);
/* calls.c: voice and video calls (issue 19) */
void pl_ops_call_invite(session_t *s, pl_cmd_t *c);
void pl_ops_call_ring(session_t *s, pl_cmd_t *c);
void pl_ops_call_answer(session_t *s, pl_cmd_t *c);
void pl_ops_call_reject(session_t *s, pl_cmd_t *c);
void pl_ops_call_cancel(session_t *s, pl_cmd_t *c);
void pl_ops_call_hangup(session_t *s, pl_cmd_t *c);
void pl_ops_call_join(session_t *s, pl_cmd_t *c);
void pl_ops_call_leave(session_t *s, pl_cmd_t *c);
void pl_ops_call_signal(session_t *s, pl_cmd_t *c);
void pl_ops_turn_credentials(session_t *s, pl_cmd_t *c);

/* mod.c: moderation (issue 17) */
void pl_ops_set_role(session_t *s, pl_cmd_t *c);
void pl_ops_kick(session_t *s, pl_cmd_t *c);
void pl_ops_ban(session_t *s, pl_cmd_t *c);
void pl_ops_unban(session_t *s, pl_cmd_t *c);
void pl_ops_mute(session_t *s, pl_cmd_t *c);
void pl_ops_bans(session_t *s, pl_cmd_t *c);
void pl_ops_audit(session_t *s, pl_cmd_t *c);
/* webhooks.c: incoming webhooks (issue 16) */
void pl_ops_webhook_create(session_t *s, pl_cmd_t *c);
void pl_ops_webhooks(session_t *s, pl_cmd_t *c);
void pl_ops_webhook_revoke(session_t *s, pl_cmd_t *c);

#endif
