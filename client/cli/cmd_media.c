/* SPDX-License-Identifier: MIT */
/* cmd_media.c -- the parley CLI's media commands: upload (then send) and
 * download. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The file is checked before connecting: a missing file fails at once. */
int cli_cmd_upload_prepare(cli_t *cli, cli_call_t *call)
{
    (void)cli;
    const char *file = call->argv[1];
    if (access(file, R_OK) < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s: %s", file, strerror(errno));
        return cli_fail_msg("invalid_argument", msg);
    }
    return EXIT_OK;
}

/* The message content for uploaded media: a photo when the server recognised
 * an image (with the caption), else a file named by the server or by the
 * local file. NULL when the upload answer lacks what it needs. */
static json_t *media_content(const json_t *media, const char *file, const char *caption)
{
    const char *id = json_string_value(json_object_get(media, "id"));
    const char *mime = json_string_value(json_object_get(media, "mime"));
    const char *name = json_string_value(json_object_get(media, "name"));
    json_int_t w = json_integer_value(json_object_get(media, "w"));
    json_int_t h = json_integer_value(json_object_get(media, "h"));
    json_t *content;
    if (mime && strncmp(mime, "image/", 6) == 0 && w > 0 && h > 0) {
        content = json_pack("{s:s, s:s, s:I, s:I}", "type", "image", "media", id, "w", w, "h", h);
        if (content && caption && *caption)
            json_object_set_new(content, "caption", json_string(caption));
        return content;
    }
    if (name == NULL || *name == '\0') {
        const char *slash = strrchr(file, '/');
        name = slash ? slash + 1 : file;
    }
    content = json_pack("{s:s, s:s, s:s, s:I, s:s}", "type", "file", "media", id, "name", name,
                        "size", json_integer_value(json_object_get(media, "size")), "mime",
                        mime && *mime ? mime : "application/octet-stream");
    if (content && caption && *caption)
        fprintf(stderr, "parley: note: --caption applies to photos only; ignored\n");
    return content;
}

int cli_cmd_upload(cli_t *cli, cli_call_t *call)
{
    json_t *media = NULL;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_upload(cli->server, cli->sess.token, call->argv[1], NULL, &media, &err) < 0)
        return cli_fail(&err);
    json_t *content = media_content(media, call->argv[1], cli_opt(call, "--caption"));
    json_decref(media);
    if (content == NULL)
        return cli_fail_msg("protocol", "unexpected upload answer");
    return cli_send_message(cli, call->room, content, -1, -1);
}

/* A safe file name for the current directory: the last path segment of name,
 * not empty, not "." or "..", not hidden. NULL when name is unusable. */
static const char *safe_local_name(const char *name)
{
    if (name == NULL)
        return NULL;
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    if (*base == '\0' || *base == '.')
        return NULL;
    return base;
}

int cli_cmd_download_prepare(cli_t *cli, cli_call_t *call)
{
    (void)cli;
    const char *id = call->argv[0], *out = cli_opt(call, "--output");
    if (*id == '\0')
        return cli_usage_error("download: expected %s", call->cmd->synopsis);
    if (out != NULL && *out == '\0')
        return cli_usage_error("download: empty -o");
    /* Without -o the id names the temporary file in the current directory. */
    if (out == NULL && (safe_local_name(id) == NULL || strchr(id, '/')))
        return cli_usage_error("download: bad MEDIA_ID %s", id);
    return EXIT_OK;
}

/* Downloads id under a temporary name, then links it to the server's name
 * for it (or the id), which fails (EEXIST) instead of replacing an existing
 * file. */
static int download_new_file(cli_t *cli, const char *id)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), ".parley-download-%s", id);
    char *server_name = NULL;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_download_ex(cli->server, cli->sess.token, id, tmp, &server_name, &err) < 0)
        return cli_fail(&err);
    const char *name = safe_local_name(server_name);
    const char *out = name ? name : id;
    int lrc = link(tmp, out);
    int e = errno;
    unlink(tmp);
    int rc = EXIT_OK;
    if (lrc < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s: %s%s", out, strerror(e),
                 e == EEXIST ? " (use -o FILE to choose the name or overwrite)" : "");
        rc = cli_fail_msg(e == EEXIST ? "file_exists" : "io_error", msg);
    } else {
        cli_print_saved(cli, id, out);
    }
    free(server_name);
    return rc;
}

int cli_cmd_download(cli_t *cli, cli_call_t *call)
{
    const char *id = call->argv[0], *out = cli_opt(call, "--output");
    if (out == NULL)
        return download_new_file(cli, id);
    parley_error_t err = {{0}, {0}, 0};
    if (parley_download(cli->server, cli->sess.token, id, out, &err) < 0)
        return cli_fail(&err);
    cli_print_saved(cli, id, out);
    return EXIT_OK;
}
