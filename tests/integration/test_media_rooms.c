/* SPDX-License-Identifier: MIT */
/* test_media_rooms.c -- media that belongs to rooms: sticker messages and
 * group avatars (room_settings name/avatar), against the real parleyd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

static th_server_t srv;

/* ---- a valid PNG (RGB, stored deflate blocks), built here ---- */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int j = 0; j < 8; j++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static size_t chunk(uint8_t *out, const char *type, const uint8_t *data, size_t n)
{
    be32(out, (uint32_t)n);
    memcpy(out + 4, type, 4);
    if (n)
        memcpy(out + 8, data, n);
    be32(out + 8 + n, crc32_of(out + 4, n + 4));
    return n + 12;
}

/* A malloc'd w x h PNG (w * h * 3 + h < 65535: one stored deflate block). */
static uint8_t *make_png(int w, int h, int seed, size_t *len)
{
    size_t raw_len = (size_t)h * (1 + 3 * (size_t)w);
    assert_true(raw_len < 65535);
    uint8_t *raw = malloc(raw_len);
    size_t k = 0;
    for (int y = 0; y < h; y++) {
        raw[k++] = 0;
        for (int x = 0; x < w; x++)
            raw[k++] = (uint8_t)(x + seed), raw[k++] = (uint8_t)y, raw[k++] = (uint8_t)(x ^ y);
    }
    uint8_t *z = malloc(raw_len + 11);
    size_t zn = 0;
    z[zn++] = 0x78, z[zn++] = 0x01, z[zn++] = 1;
    z[zn++] = (uint8_t)raw_len, z[zn++] = (uint8_t)(raw_len >> 8);
    z[zn++] = (uint8_t)~raw_len, z[zn++] = (uint8_t)(~raw_len >> 8);
    memcpy(z + zn, raw, raw_len);
    zn += raw_len;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_len; i++)
        a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    be32(z + zn, (b << 16) | a);
    zn += 4;
    uint8_t *png = malloc(zn + 100);
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    size_t n = 8;
    uint8_t ihdr[13] = {0};
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = 2;
    n += chunk(png + n, "IHDR", ihdr, 13);
    n += chunk(png + n, "IDAT", z, zn);
    n += chunk(png + n, "IEND", NULL, 0);
    free(raw);
    free(z);
    *len = n;
    return png;
}

/* ---- HTTP ---- */

/* Uploads bytes as u; writes the media id to id. */
static void upload(const th_user_t *u, const void *data, size_t len, char *id, size_t cap)
{
    int fd = th_connect(srv.port);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/media?name=x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     u->token, len);
    th_send_all(fd, head, (size_t)n);
    th_send_all(fd, data, len);
    static char buf[8192];
    size_t got = th_recv_until_close(fd, buf, sizeof buf, 10000);
    close(fd);
    assert_true(got > 12);
    int status = atoi(buf + 9);
    assert_true(status == 201 || status == 200);
    const char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    json_t *j = th_json_parse(body + 4);
    snprintf(id, cap, "%s", th_jstr(j, "id"));
    json_decref(j);
}

static void upload_png(const th_user_t *u, int w, int h, int seed, char *id, size_t cap)
{
    size_t len;
    uint8_t *png = make_png(w, h, seed, &len);
    upload(u, png, len, id, cap);
    free(png);
}

/* Status of GET path as u (the body is not kept: images are binary). */
static int fetch(const th_user_t *u, const char *fmt, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, fmt, id);
    static char body[1 << 16];
    return th_http(srv.port, "GET", path, u->token, NULL, body, sizeof body);
}

/* ---- tests ---- */

static void test_sticker(void **state)
{
    (void)state;
    th_user_t a, b, c;
    th_new_user(&a, "sa");
    th_new_user(&b, "sb");
    th_new_user(&c, "sc");
    char img[32], txt[32], other[32], emoji_img[32];
    upload_png(&a, 64, 64, 1, img, sizeof img);
    upload(&a, "not an image at all\n", 20, txt, sizeof txt);
    upload_png(&c, 32, 32, 2, other, sizeof other);
    upload_png(&c, 48, 48, 3, emoji_img, sizeof emoji_img);
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fc = th_ws_login(&c);
    char members[64];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "group", members, "stickers");

    /* Validation: bad_request for the shape, not_found for unseen media. */
    static const char *const bad[] = {
        "{\"type\":\"sticker\"}",
        "{\"type\":\"sticker\",\"media\":\"x1\"}",
        "{\"type\":\"sticker\",\"media\":5}",
        "{\"type\":\"sticker\",\"media\":\"%s\",\"w\":0}",
        "{\"type\":\"sticker\",\"media\":\"%s\",\"h\":\"7\"}",
        "{\"type\":\"sticker\",\"media\":\"%s\",\"emoji\":\":party:\"}",
        "{\"type\":\"sticker\",\"media\":\"%s\",\"emoji\":\"A\"}",
        "{\"type\":\"sticker\",\"media\":\"%s\",\"caption\":\"hi\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char content[256];
        snprintf(content, sizeof content, bad[i], img);
        th_expect_err(th_call(fa,
                              "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"bad%zu\","
                              "\"content\":%s",
                              room, i, content),
                      "bad_request");
    }
    /* Not an image: bad_request; someone else's private upload: not_found. */
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"txt\","
                          "\"content\":{\"type\":\"sticker\",\"media\":\"%s\"}",
                          room, txt),
                  "bad_request");
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"oth\","
                          "\"content\":{\"type\":\"sticker\",\"media\":\"%s\"}",
                          room, other),
                  "not_found");
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"nx\","
                          "\"content\":{\"type\":\"sticker\",\"media\":\"f99999999\"}",
                          room),
                  "not_found");
    /* Before it is sent, b cannot read a's upload. */
    assert_int_equal(fetch(&b, "/v1/media/%s", img), 404);

    /* A valid sticker: delivered to b as sent. */
    json_t *r = th_call(fa,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"st1\","
                        "\"content\":{\"type\":\"sticker\",\"media\":\"%s\",\"w\":64,\"h\":64,"
                        "\"emoji\":\"party_time\"}",
                        room, img);
    th_expect_ok(r);
    json_decref(r);
    json_t *ev = th_next_event(fb, "message");
    json_t *ct = json_object_get(ev, "content");
    assert_string_equal(th_jstr(ct, "type"), "sticker");
    assert_string_equal(th_jstr(ct, "media"), img);
    assert_string_equal(th_jstr(ct, "emoji"), "party_time");
    assert_int_equal(th_jint(ct, "w"), 64);
    json_decref(ev);
    /* Members may fetch it and its thumbnail; a non-member may not. */
    assert_int_equal(fetch(&b, "/v1/media/%s", img), 200);
    assert_int_equal(fetch(&b, "/v1/media/%s/thumb", img), 200);
    assert_int_equal(fetch(&c, "/v1/media/%s", img), 404);
    assert_int_equal(fetch(&c, "/v1/media/%s/thumb", img), 404);

    /* A custom emoji's image is a sticker anyone may send. */
    r = th_call(fc, "\"op\":\"emoji_add\",\"shortcode\":\"stk_party\",\"media\":\"%s\"", emoji_img);
    th_expect_ok(r);
    json_decref(r);
    r = th_call(fb,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"st2\","
                "\"content\":{\"type\":\"sticker\",\"media\":\"%s\",\"emoji\":\"stk_party\"}",
                room, emoji_img);
    th_expect_ok(r);
    json_decref(r);
    /* a's own first sticker comes back to a too; b's follows it. */
    ev = th_next_event(fa, "message");
    assert_string_equal(th_jstr(json_object_get(ev, "content"), "media"), img);
    json_decref(ev);
    ev = th_next_event(fa, "message");
    assert_string_equal(th_jstr(json_object_get(ev, "content"), "media"), emoji_img);
    json_decref(ev);
    /* History keeps both. */
    r = th_call(fa, "\"op\":\"history\",\"room\":\"%s\"", room);
    th_expect_ok(r);
    json_t *msgs = json_object_get(r, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    json_decref(r);
    /* A reply quotes media by its caption, else by what it is. */
    r = th_call(fb,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"rp1\",\"reply_to\":1,"
                "\"content\":{\"type\":\"text\",\"body\":\"nice\"}",
                room);
    th_expect_ok(r);
    assert_string_equal(
        th_jstr(json_object_get(json_object_get(r, "message"), "reply_to"), "preview"), "Sticker");
    json_decref(r);
    r = th_call(fa,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"im1\",\"content\":{\"type\":"
                "\"image\",\"media\":\"%s\",\"w\":64,\"h\":64,\"caption\":\"the view\"}",
                room, img);
    th_expect_ok(r);
    json_int_t iseq = th_jint(json_object_get(r, "message"), "seq");
    json_decref(r);
    r = th_call(fb,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"rp2\",\"reply_to\":%lld,"
                "\"content\":{\"type\":\"text\",\"body\":\"wow\"}",
                room, (long long)iseq);
    th_expect_ok(r);
    assert_string_equal(
        th_jstr(json_object_get(json_object_get(r, "message"), "reply_to"), "preview"), "the view");
    json_decref(r);
    free(room);
    close(fa);
    close(fb);
    close(fc);
}

static void test_group_avatar_and_name(void **state)
{
    (void)state;
    th_user_t a, b, c;
    th_new_user(&a, "ga");
    th_new_user(&b, "gb");
    th_new_user(&c, "gc");
    char img[32], txt[32], other[32];
    upload_png(&a, 120, 100, 7, img, sizeof img);
    upload(&a, "plain text, no image\n", 21, txt, sizeof txt);
    upload_png(&b, 40, 40, 8, other, sizeof other);
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fc = th_ws_login(&c);
    char members[64];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "group", members, "before");
    json_decref(th_next_event(fb, "room"));
    snprintf(members, sizeof members, "[\"%s\"]", c.name);
    char *dm = th_room_create(fa, "dm", members, NULL);

    /* A new group has no avatar. */
    json_t *r = th_call(fb, "\"op\":\"rooms\"");
    th_expect_ok(r);
    json_t *rooms = json_object_get(r, "rooms");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *x = json_array_get(rooms, i);
        if (!strcmp(th_jstr(x, "id"), room)) {
            seen = true;
            assert_true(json_is_null(json_object_get(x, "avatar")));
        }
    }
    assert_true(seen);
    json_decref(r);

    /* Errors. */
    th_expect_err(th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\"", room), "bad_request");
    th_expect_err(
        th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\"", dm, img),
        "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"name\":\"x\"", dm),
                  "bad_request");
    th_expect_err(
        th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\"", room, txt),
        "bad_request");
    th_expect_err(
        th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\"", room, other),
        "not_found");
    th_expect_err(
        th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"f99999999\"", room),
        "not_found");
    th_expect_err(th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":7", room),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"name\":\"\"", room),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"name\":3", room),
                  "bad_request");
    char longname[400];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    th_expect_err(
        th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"name\":\"%s\"", room, longname),
        "too_large");
    th_expect_err(th_call(fc, "\"op\":\"room_settings\",\"room\":\"%s\",\"name\":\"mine\"", room),
                  "forbidden");
    /* Nothing readable yet for b. */
    assert_int_equal(fetch(&b, "/v1/media/%s/thumb?square=1", img), 404);

    /* Set: the reply and every member's room event carry it. */
    r = th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\",\"name\":\"after\"",
                room, img);
    th_expect_ok(r);
    assert_string_equal(th_jstr(json_object_get(r, "room"), "avatar"), img);
    assert_string_equal(th_jstr(json_object_get(r, "room"), "name"), "after");
    json_decref(r);
    json_t *ev = th_next_event(fb, "room");
    assert_string_equal(th_jstr(json_object_get(ev, "room"), "avatar"), img);
    assert_string_equal(th_jstr(json_object_get(ev, "room"), "name"), "after");
    json_decref(ev);
    /* Members may read the image and its square thumbnail; others may not. */
    assert_int_equal(fetch(&b, "/v1/media/%s", img), 200);
    assert_int_equal(fetch(&b, "/v1/media/%s/thumb?square=1", img), 200);
    assert_int_equal(fetch(&c, "/v1/media/%s", img), 404);
    assert_int_equal(fetch(&c, "/v1/media/%s/thumb?square=1", img), 404);
    /* Rename alone keeps the avatar; the rooms list shows both. */
    r = th_call(fb, "\"op\":\"room_settings\",\"room\":\"%s\",\"name\":\"renamed by b\"", room);
    th_expect_ok(r);
    assert_string_equal(th_jstr(json_object_get(r, "room"), "avatar"), img);
    json_decref(r);
    json_decref(th_next_event(fa, "room")); /* a's own change, sent to a too */
    ev = th_next_event(fa, "room");
    assert_string_equal(th_jstr(json_object_get(ev, "room"), "name"), "renamed by b");
    json_decref(ev);
    r = th_call(fa, "\"op\":\"rooms\"");
    rooms = json_object_get(r, "rooms");
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *x = json_array_get(rooms, i);
        if (!strcmp(th_jstr(x, "id"), room)) {
            assert_string_equal(th_jstr(x, "name"), "renamed by b");
            assert_string_equal(th_jstr(x, "avatar"), img);
        }
    }
    json_decref(r);
    /* A member who leaves loses access. */
    r = th_call(fb, "\"op\":\"leave\",\"room\":\"%s\"", room);
    th_expect_ok(r);
    json_decref(r);
    assert_int_equal(fetch(&b, "/v1/media/%s/thumb?square=1", img), 404);
    /* Groups are private: coming back needs a new invitation (b's group_add
     * is the default, everyone: a member's invite adds b again). */
    th_expect_err(th_call(fb, "\"op\":\"join\",\"room\":\"%s\"", room), "forbidden");
    assert_int_equal(fetch(&b, "/v1/media/%s/thumb?square=1", img), 404);
    r = th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", room, b.name);
    th_expect_ok(r);
    assert_int_equal(1, json_array_size(json_object_get(r, "added")));
    json_decref(r);
    assert_int_equal(fetch(&b, "/v1/media/%s/thumb?square=1", img), 200);
    /* Clear: null, and it survives a restart (schema 4). */
    r = th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":null", room);
    th_expect_ok(r);
    assert_true(json_is_null(json_object_get(json_object_get(r, "room"), "avatar")));
    json_decref(r);
    r = th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\"", room, img);
    th_expect_ok(r);
    json_decref(r);
    close(fa);
    close(fb);
    close(fc);
    assert_int_equal(th_server_stop(&srv), 0);
    th_server_restart(&srv, NULL); /* same port and data dir */
    fa = th_ws_login(&a);
    r = th_call(fa, "\"op\":\"join\",\"room\":\"%s\"", room);
    th_expect_ok(r);
    assert_string_equal(th_jstr(json_object_get(r, "room"), "avatar"), img);
    assert_string_equal(th_jstr(json_object_get(r, "room"), "name"), "renamed by b");
    json_decref(r);
    close(fa);
    free(room);
    free(dm);
}

static int group_setup(void **state)
{
    (void)state;
    th_server_start(&srv, NULL);
    th_json_bind(&srv);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sticker),
        cmocka_unit_test(test_group_avatar_and_name),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
