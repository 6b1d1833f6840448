#!/usr/bin/env python3
"""Reads the mutant lists (tests/mutants/*.mut) and applies one mutant at a
time to a copy of the source tree; the driver is scripts/mutants.sh.

A mutant list is a sequence of blocks, one line per field, "#" comments:

    mutant   NAME            a unique name, starts the block
    file     PATH            a file of the tree (relative to its root)
    find     TEXT            literal text that occurs exactly once in the file
    replace  TEXT            what replaces it (the rest of the line; may be
                             empty: the text is deleted)
    tests    REGEX           the ctest -R regex whose tests must kill it
    quick                    also run by `make test` (the fast subset)
    why      TEXT            what the mutant breaks, and the test that kills it

find/replace pairs may repeat (one mutant may change several places, also
in several files: each pair belongs to the last "file" before it). A pattern
that is missing, or found more than once, is an error, so a mutant cannot go
stale silently when the code it targets changes.

Commands (ROOT is a source tree, COPY the mutants' copy of it):
    check ROOT                 every mutant applies to ROOT (patterns unique)
    list [--quick] [NAME...]   NAME<TAB>REGEX, one mutant a line
    sync ROOT COPY             copy the tree's files (git ls-files: tracked and
                               untracked, not ignored) whose content differs
    apply NAME COPY            apply NAME; the originals go to COPY/.mutant-orig
    restore COPY               put every saved original back (newer mtime, so
                               the build recompiles it) and forget it
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = {"mutant", "file", "find", "replace", "tests", "quick", "why"}


def parse(path):
    out, cur = [], None
    with open(path, encoding="utf-8") as fh:
        for no, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split(None, 1)
            key, val = parts[0], parts[1] if len(parts) > 1 else ""
            where = "%s:%d" % (os.path.basename(path), no)
            if key not in KEYS:
                sys.exit("%s: unknown field %r" % (where, key))
            if key == "mutant":
                cur = {"name": val, "edits": [], "tests": None, "quick": False,
                       "file": None, "where": where, "why": ""}
                out.append(cur)
                continue
            if cur is None:
                sys.exit("%s: %s before the first mutant" % (where, key))
            if key == "file":
                cur["file"] = val
            elif key == "find":
                if not cur["file"]:
                    sys.exit("%s: find before file" % where)
                cur["edits"].append([cur["file"], val, None])
            elif key == "replace":
                if not cur["edits"] or cur["edits"][-1][2] is not None:
                    sys.exit("%s: replace without its find" % where)
                cur["edits"][-1][2] = val
            elif key == "tests":
                cur["tests"] = val
            elif key == "quick":
                cur["quick"] = True
            elif key == "why":
                cur["why"] = val
    for m in out:
        if not m["edits"] or any(e[2] is None for e in m["edits"]) or not m["tests"]:
            sys.exit("%s: mutant %s needs find/replace pairs and tests" % (m["where"], m["name"]))
    return out


def mutants():
    out = []
    for p in sorted(glob.glob(os.path.join(HERE, "*.mut"))):
        out.extend(parse(p))
    names = [m["name"] for m in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit("duplicate mutant names: %s" % ", ".join(sorted(dup)))
    return out


def mutated(root, m):
    """{path: (original, mutated)} for m applied to root; exits on a bad pattern."""
    texts = {}
    for f, find, repl in m["edits"]:
        p = os.path.join(root, f)
        if f not in texts:
            try:
                with open(p, encoding="utf-8") as fh:
                    t = fh.read()
            except OSError as e:
                sys.exit("mutant %s: %s: %s" % (m["name"], f, e.strerror))
            texts[f] = [t, t]
        n = texts[f][1].count(find)
        if n != 1:
            sys.exit("mutant %s (%s): %r found %d times in %s (want exactly once)"
                     % (m["name"], m["where"], find, n, f))
        texts[f][1] = texts[f][1].replace(find, repl)
    return texts


def tree_files(root):
    r = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], check=True, capture_output=True)
    return [f for f in r.stdout.decode().split("\0") if f]


def sync(root, copy):
    n = 0
    for f in tree_files(root):
        src, dst = os.path.join(root, f), os.path.join(copy, f)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        with open(src, "rb") as fh:
            data = fh.read()
        try:
            with open(dst, "rb") as fh:
                if fh.read() == data:
                    continue
        except OSError:
            pass
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as fh:
            fh.write(data)
        shutil.copymode(src, dst)
        n += 1
    print("mutants: %d files copied to %s" % (n, copy))


def restore(copy):
    saved = os.path.join(copy, ".mutant-orig")
    for dirpath, _, files in os.walk(saved):
        for name in files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, saved)
            shutil.copyfile(p, os.path.join(copy, rel))  # new mtime: rebuilt
    shutil.rmtree(saved, ignore_errors=True)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "check":
        ms = mutants()
        for m in ms:
            mutated(args[0], m)
        print("mutants: %d mutants, every pattern found once" % len(ms))
    elif cmd == "list":
        quick = "--quick" in args
        names = [a for a in args if a != "--quick"]
        ms = mutants()
        known = {m["name"] for m in ms}
        for n in names:
            if n not in known:
                sys.exit("no mutant %s" % n)
        for m in ms:
            if (names and m["name"] not in names) or (quick and not m["quick"]):
                continue
            print("%s\t%s" % (m["name"], m["tests"]))
    elif cmd == "sync":
        sync(args[0], args[1])
    elif cmd == "apply":
        m = {x["name"]: x for x in mutants()}.get(args[0])
        if not m:
            sys.exit("no mutant %s" % args[0])
        copy = args[1]
        restore(copy)
        for f, (orig, new) in mutated(copy, m).items():
            keep = os.path.join(copy, ".mutant-orig", f)
            os.makedirs(os.path.dirname(keep), exist_ok=True)
            with open(keep, "w", encoding="utf-8") as fh:
                fh.write(orig)
            with open(os.path.join(copy, f), "w", encoding="utf-8") as fh:
                fh.write(new)
    elif cmd == "restore":
        restore(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
