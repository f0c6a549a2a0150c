/* SPDX-License-Identifier: MIT */
/* fuzz_config.c -- libFuzzer target for the config parser (pure, no I/O). */
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_config_t cfg;
    char err[256];
    pl_config_init(&cfg);
    if (pl_config_parse(&cfg, (const char *)data, size, "fuzz", err, sizeof err) == 0)
        (void)pl_config_validate(&cfg, err, sizeof err);
    pl_config_dispose(&cfg);
    return 0;
}
