/* SPDX-License-Identifier: MIT */
/* err.c -- names for error codes. */
#include "core/err.h"

#include <string.h>

const char *pl_strerror(int err)
{
    switch (err) {
    case PL_OK:
        return "ok";
    case PL_EAGAIN:
        return "incomplete input";
    case PL_EPROTO:
        return "protocol error";
    case PL_ETOOBIG:
        return "too large";
    case PL_ENOMEM:
        return "out of memory";
    case PL_EINVAL:
        return "invalid argument";
    case PL_ENOTFOUND:
        return "not found";
    case PL_EEXIST:
        return "already exists";
    case PL_EIO:
        return "I/O error";
    case PL_EFORBIDDEN:
        return "forbidden";
    case PL_ECLOSED:
        return "closed";
    default:
        /* UV_E* codes are negative errno values on Unix (libuv's uv-errno.h),
         * so core names them without libuv. */
        if (err < 0 && err > -4096) {
            const char *d = strerrordesc_np(-err);
            if (d != NULL)
                return d;
        }
        return "unknown error";
    }
}
