/* SPDX-License-Identifier: MIT */
/* err.h -- project error codes. 0 is success; negatives are errors. UV_E* codes
 * from libuv may pass through unchanged (they are negative errno values). */
#ifndef PL_CORE_ERR_H
#define PL_CORE_ERR_H

enum {
    PL_OK = 0,
    PL_EAGAIN = -10001,     /* incomplete input: call again with more bytes */
    PL_EPROTO = -10002,     /* peer violated the protocol */
    PL_ETOOBIG = -10003,    /* a configured size limit was exceeded */
    PL_ENOMEM = -10004,     /* allocation failed */
    PL_EINVAL = -10005,     /* invalid argument or value */
    PL_ENOTFOUND = -10006,  /* no such row / object */
    PL_EEXIST = -10007,     /* unique constraint: already exists */
    PL_EIO = -10008,        /* storage or I/O failure */
    PL_EFORBIDDEN = -10009, /* authorization failed */
    PL_ECLOSED = -10010,    /* object is closing or closed */
};

/** Returns a static, human-readable name for a PL_E* or UV_E* code. */
const char *pl_strerror(int err);

#endif
