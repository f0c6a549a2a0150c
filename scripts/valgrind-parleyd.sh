#!/bin/sh
# valgrind-parleyd.sh -- runs parleyd ($PARLEYD_REAL) under valgrind memcheck;
# used as PARLEYD by `make test-valgrind`, so the integration harness starts
# it like the real binary. Any error or definite/indirect leak makes parleyd
# exit 99, which the tests report as a failed shutdown.
exec valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect "$PARLEYD_REAL" "$@"
