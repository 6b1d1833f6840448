#!/usr/bin/env python3
"""Structure checks run by `make test` (docs/architecture.md says why).

1. Size: no file under src/, tools/ or tests/ longer than MAX_FILE lines, and no
   function outside tests/ longer than MAX_FUNC lines (counted from the line
   that opens the definition to its closing brace at column 0; clang-format's
   LLVM style puts both there).
2. Include direction: a file in src/<layer>/ may include headers of its own
   layer and of the layers below it, never above. Public headers
   (include/mosaik/*.h) belong to the layer that implements them, and the
   same rule holds between them. `#include "../` is refused outright, and so
   is another layer's private header (`<layer>/*_internal.h`): what layers
   share is a header without that suffix (e.g. core/cbor.h).

Layer order, bottom to top (DESIGN.md):
  core < crypto < tickets < tee < net < discovery < streams < groups < collections
with tee/ below tee/tdx, tee/snp (a platform may use the shared TEE layer,
never the reverse, and no platform includes another) and tools/ above all.

3. docs/architecture.md's file index matches the files' top comments
   (scripts/architecture_index.py).

Usage: scripts/check_structure.py [--quiet]   (exit 1 on any violation)
"""
import os
import re
import sys

MAX_FILE = 800
MAX_FUNC = 120

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

RANK = {
    "core": 0,
    "crypto": 1,
    "tickets": 2,
    "tee": 3,
    "net": 4,
    "discovery": 5,
    "streams": 6,
    "groups": 7,
    "collections": 8,
    "http": 9,
    "tools": 10,
}

# Public header -> layer that implements it (prefix matches allowed for tdx*/snp*).
PUBLIC = {
    "version": "core", "export": "core", "error": "core", "bytes": "core", "writer": "core", "encoding": "core",
    "clock": "core", "log": "core", "cbor": "core",
    "crypto": "crypto", "id": "crypto",
    "ticket": "tickets", "jwt": "tickets", "anyof": "tickets",
    "tee": "tee",
    "net": "net",
    "discovery": "discovery", "attest": "discovery",
    "streams": "streams", "codec": "streams",
    "groups": "groups",
    "collections": "collections",
    "status": "http",
    "mosaik": "tools",  # the umbrella header: only for users
}


def public_layer(name):
    if name.startswith("tdx"):
        return ("tee", "tdx")
    if name.startswith("snp"):
        return ("tee", "snp")
    layer = PUBLIC.get(name)
    return (layer, None) if layer else (None, None)


def src_layer(path):
    """(layer, platform) of a file under src/ or include/ or tools/."""
    rel = os.path.relpath(path, ROOT).split(os.sep)
    if rel[0] == "tools":
        return ("tools", None)
    if rel[0] == "include":
        return public_layer(os.path.splitext(rel[-1])[0])
    if rel[0] == "src" and len(rel) > 2:
        layer = rel[1]
        platform = rel[2] if layer == "tee" and len(rel) > 3 else None
        return (layer, platform)
    return (None, None)


def allowed(frm, to):
    """May a file of layer `frm` include a header of layer `to`?"""
    (fl, fp), (tl, tp) = frm, to
    if fl is None or tl is None:
        return True
    if fl not in RANK or tl not in RANK:
        return True
    if RANK[tl] < RANK[fl]:
        return True
    if RANK[tl] > RANK[fl]:
        return False
    if fl != "tee":
        return True
    # Inside tee/: the shared layer never includes a platform; platforms never
    # include each other.
    if tp is None:
        return True
    return fp == tp


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def check_includes(path, errors):
    me = src_layer(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            where = "%s:%d" % (os.path.relpath(path, ROOT), n)
            if inc.startswith("../"):
                errors.append('%s: relative include "%s"' % (where, inc))
                continue
            parts = inc.split("/")
            if parts[0] == "mosaik":
                to = public_layer(os.path.splitext(parts[-1])[0])
            elif len(parts) > 1 and parts[0] in RANK:
                if parts[-1].endswith("_internal.h") and parts[0] != me[0]:
                    errors.append('%s: "%s" is another layer\'s private header' % (where, inc))
                    continue
                plat = parts[1] if parts[0] == "tee" and len(parts) > 2 else None
                to = (parts[0], plat)
            else:
                continue  # a header beside the file
            if not allowed(me, to):
                errors.append('%s: %s includes "%s" from %s (upward)'
                              % (where, "/".join(x for x in me if x), inc,
                                 "/".join(x for x in to if x)))


FUNC_HEAD = re.compile(r"^[A-Za-z_][^;=]*\(")


def check_functions(path, errors):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    head = None  # line index where a candidate definition starts
    i = 0
    while i < len(lines):
        line = lines[i]
        if head is None and FUNC_HEAD.match(line) and not line.startswith(("typedef", "struct ", "enum ", "union ")):
            head = i
        if head is not None:
            stripped = line.rstrip()
            if stripped.endswith(";") and not stripped.endswith("{"):
                head = None  # a declaration
            elif stripped.endswith("{"):
                start = head
                depth = 0
                j = i
                while j < len(lines):
                    if lines[j].startswith("}"):
                        break
                    j += 1
                length = j - start + 1
                if length > MAX_FUNC:
                    name = re.search(r"([A-Za-z_][A-Za-z_0-9]*)\s*\(", lines[start])
                    errors.append("%s:%d: function %s is %d lines (max %d)"
                                  % (os.path.relpath(path, ROOT), start + 1,
                                     name.group(1) if name else "?", length, MAX_FUNC))
                head = None
                i = j
                del depth
        i += 1


def sources(top, exts):
    for base, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(exts):
                yield os.path.join(base, name)


def main():
    quiet = "--quiet" in sys.argv
    errors = []
    for top in ("src", "tools"):
        for path in sources(top, (".c", ".h")):
            with open(path, encoding="utf-8", errors="replace") as f:
                n = sum(1 for _ in f)
            if n > MAX_FILE:
                errors.append("%s: %d lines (max %d)" % (os.path.relpath(path, ROOT), n, MAX_FILE))
            if path.endswith(".c"):
                check_functions(path, errors)
            check_includes(path, errors)
    for path in sources("include/mosaik", (".h",)):
        check_includes(path, errors)
    # Test files are split by topic too (functions may be longer: a test
    # reads best as one story).
    for path in sources("tests", (".c", ".h", ".py", ".sh")):
        with open(path, encoding="utf-8", errors="replace") as f:
            n = sum(1 for _ in f)
        if n > MAX_FILE:
            errors.append("%s: %d lines (max %d)" % (os.path.relpath(path, ROOT), n, MAX_FILE))
    import architecture_index  # docs/architecture.md's file index is current
    if architecture_index.main_check() != 0:
        errors.append("docs/architecture.md: the file index is stale "
                      "(run scripts/architecture_index.py --write)")
    for e in errors:
        print("check_structure: " + e)
    if not quiet:
        print("check_structure: %d problem(s)" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
