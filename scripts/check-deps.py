#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-deps.py -- the dependency rules of docs/architecture.md, checked on
the built objects: which file's functions each file calls (nm), and which
project headers each file includes.

    scripts/check-deps.py BUILD_DIR [--verbose]

Fails (exit 1) when
  - a module calls into or includes a module it may not (ALLOWED below), or
  - files call each other in a cycle (a strongly connected component of the
    file call graph with more than one file) that crosses modules, or lies
    inside a module listed in ACYCLIC.
Cycles inside other modules are printed as notes.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

# module -> the modules it may use (besides itself). Keep in step with the
# "Layers" section of docs/architecture.md.
ALLOWED = {
    "core": set(),
    "net": {"core"},
    "ws": {"net", "wscodec", "http", "core"},
    "wscodec": {"core"},
    "http": {"net", "core"},
    "store": {"core"},
    "auth": {"core"},
    "cluster": {"core"},
    "jobs": {"store", "core"},
    "push": {"store", "core"},
    "hooks": {"core"},  # integrations (issue 16): pure parsers
    "chat": {"ws", "wscodec", "http", "net", "store", "auth", "cluster", "push", "hooks", "core"},
    "media": {"http", "net", "store", "auth", "core"},
    "api": {"chat", "media", "auth", "http", "ws", "wscodec", "net", "store", "cluster", "jobs",
            "push", "hooks", "core"},
    "main": {"api", "chat", "media", "auth", "http", "ws", "wscodec", "net", "store", "cluster",
             "jobs", "push", "hooks", "core"},
    "client": {"wscodec", "core"},
}
# Modules whose files must not call each other in a cycle. net's conn.c,
# loops.c and server.c are one unit behind net_internal.h (the server owns
# the loops, a loop owns its connections, and a closing connection reports
# back for the shutdown count), and libparley's files are one client state
# machine: their cycles are printed as notes.
ACYCLIC = {"core", "http", "ws", "wscodec", "store", "auth", "chat", "media", "api", "cluster",
           "jobs", "push", "hooks"}
WSCODEC = {"ws/ws", "ws/ws_frame", "ws/ws_decode", "ws/ws_handshake"}


def module_of(path):
    """'src/ws/ws_frame.c' -> ('ws/ws_frame', 'wscodec')"""
    p = path
    for pre in ("src/",):
        if p.startswith(pre):
            p = p[len(pre):]
    stem = os.path.splitext(p)[0]
    if p.startswith("client/"):
        return stem, "client"
    if stem == "main":
        return stem, "main"
    if stem in WSCODEC:
        return stem, "wscodec"
    return stem, stem.split("/")[0]


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build = sys.argv[1]
    verbose = "--verbose" in sys.argv
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    objs = {}
    for d, _, files in os.walk(build):
        for f in files:
            if not f.endswith(".c.o"):
                continue
            full = os.path.join(d, f)
            m = re.search(r"\.dir/((?:src|client)/.*)\.o$", full)
            if not m or not os.path.exists(os.path.join(root, m.group(1))):
                continue  # not ours, or a stale object of a removed file
            if "/pl_" in full or "parley_lib" in full or "parleyd.dir" in full:
                # a file that moved between libraries leaves its old object
                # behind in an incremental build: the newest one counts
                old = objs.get(m.group(1))
                if old is None or os.path.getmtime(full) > os.path.getmtime(old):
                    objs[m.group(1)] = full
    if not objs:
        print("check-deps: no objects under %s (build first)" % build)
        return 2
    defined, used = {}, defaultdict(set)
    for src, o in objs.items():
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                defined[parts[2]] = src
            elif len(parts) == 2 and parts[0] == "U":
                used[src].add(parts[1])
    calls = defaultdict(set)
    for src, syms in used.items():
        for s in syms:
            dst = defined.get(s)
            if dst and dst != src:
                calls[src].add(dst)
    errors = []
    # module rules, on calls
    for src, dsts in sorted(calls.items()):
        _, ms = module_of(src)
        for dst in sorted(dsts):
            _, md = module_of(dst)
            if md != ms and md not in ALLOWED.get(ms, set()):
                errors.append("layer: %s (%s) calls %s (%s)" % (src, ms, dst, md))
    # module rules, on includes
    inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    for src in sorted(objs):
        _, ms = module_of(src)
        text = open(os.path.join(root, src), encoding="utf-8").read()
        for h in inc.findall(text):
            if not re.match(r"(core|net|http|ws|store|auth|chat|media|api)/", h):
                continue
            _, mh = module_of("src/" + h)
            if mh != ms and mh not in ALLOWED.get(ms, set()):
                errors.append("layer: %s (%s) includes %s (%s)" % (src, ms, h, mh))
    # file cycles (Tarjan)
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in calls.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(objs):
        if v not in index:
            strong(v)
    notes = []
    for comp in sccs:
        mods = {module_of(f)[1] for f in comp}
        line = "cycle: " + " <-> ".join(comp)
        if len(mods) > 1 or mods & ACYCLIC:
            errors.append(line)
        else:
            notes.append(line + " (inside one module: a note)")
    if verbose:
        for src, dsts in sorted(calls.items()):
            print("%s -> %s" % (src, ", ".join(sorted(dsts))))
    for e in errors + notes:
        print(e)
    print("check-deps: %d files, %d calls between files, %d problems"
          % (len(objs), sum(len(v) for v in calls.values()), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
