#!/usr/bin/env python3
"""The shared library exports exactly the public API (CTest: api_exports).

libmosaik is compiled with -fvisibility=hidden, and every function declared
in a public header carries MK_EXTERN (mosaik/export.h), which makes it
visible. This script checks, for one build:

1. mosaik/mosaik.h includes every public header: each include/mosaik/*.h
   and the generated mosaik/version.h.
2. The declarations: mosaik/mosaik.h is run through the C preprocessor with
   the build's include directories, so the feature macros of that build
   (MOSAIK_HAVE_TDX, MOSAIK_HAVE_TDX_BUILDER in version.h) select the
   headers exactly as for a program. Every top-level function declaration
   that comes from a public header must carry MK_EXTERN (after the
   preprocessor: __attribute__((visibility("default")))); one without it
   is an error, since it would silently not be exported. Data objects
   (`MK_EXTERN extern const mk_datum_codec mk_codec_json;`) count as
   declarations too.
3. The library: the names `nm -D --defined-only LIB` lists must equal the
   names of those declarations. A name on either side only is an error:
   an internal function that leaked, or a public one that is missing.

No list of names is kept by hand. Exit 0 when all holds, 1 otherwise.

Usage: check_exports.py --lib libmosaik.so --cc CC --nm NM \
           --source-include DIR --build-include DIR
"""
import argparse
import os
import re
import subprocess
import sys

VIS = re.compile(r'__attribute__\s*\(\(\s*visibility\s*\(\s*"default"\s*\)\s*\)\)')
ATTR = re.compile(r"__attribute__\s*\(\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\)")
MARKER = re.compile(r'^#\s*(\d+)\s+"([^"]*)"')


def headers_in(dir_):
    d = os.path.join(dir_, "mosaik")
    return sorted(n for n in os.listdir(d) if n.endswith(".h"))


def check_umbrella(src_inc, problems):
    umbrella = os.path.join(src_inc, "mosaik", "mosaik.h")
    with open(umbrella, encoding="utf-8") as f:
        text = f.read()
    included = set(re.findall(r'^\s*#\s*include\s+"mosaik/([^"]+)"', text, flags=re.M))
    for name in headers_in(src_inc) + ["version.h"]:
        if name != "mosaik.h" and name not in included:
            problems.append("mosaik/mosaik.h does not include mosaik/%s" % name)


def public_text(cc, src_inc, build_inc):
    """The preprocessed umbrella header, only the parts from public headers."""
    out = subprocess.run(
        [cc, "-E", "-std=c11", "-D_GNU_SOURCE", "-I", src_inc, "-I", build_inc,
         os.path.join(src_inc, "mosaik", "mosaik.h")],
        check=True, capture_output=True, text=True).stdout
    roots = [os.path.realpath(os.path.join(d, "mosaik")) + os.sep for d in (src_inc, build_inc)]
    keep, parts = False, []
    for line in out.split("\n"):
        m = MARKER.match(line)
        if m:
            path = os.path.realpath(m.group(2)) if m.group(2) else ""
            keep = any(path.startswith(r) for r in roots)
            continue
        if keep:
            parts.append(line)
    return "\n".join(parts)


def declarations(text):
    """(name, marked) for each top-level function or data object declaration."""
    found, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            stmt = " ".join("".join(cur).split())
            cur = []
            if not stmt or re.match(r"(typedef|struct|union|enum)\b", stmt):
                continue
            marked = bool(VIS.search(stmt))
            bare = ATTR.sub(" ", stmt)
            m = re.match(r"^[^(]*?\b([A-Za-z_]\w*)\s*\(", bare)
            if m and not re.search(r"\(\s*\*", bare.split("(", 1)[0] + "("):
                found.append((m.group(1), marked))
            elif "(" not in bare and re.match(r"^\s*extern\b", bare):
                # a data object (extern const mk_datum_codec mk_codec_json;)
                d = re.search(r"\b([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$", bare)
                if d:
                    found.append((d.group(1), marked))
            continue
        if depth == 0:
            cur.append(ch)
    return found


def exported(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    names = set()
    for line in out.split("\n"):
        f = line.split()
        # AddressSanitizer adds an ODR indicator for each exported data
        # object (__odr_asan.NAME): instrumentation, not API.
        if len(f) >= 3 and not f[2].startswith("__odr_asan"):
            names.add(f[2].split("@")[0])
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--source-include", required=True)
    ap.add_argument("--build-include", required=True)
    a = ap.parse_args()
    problems = []
    check_umbrella(a.source_include, problems)
    decls = declarations(public_text(a.cc, a.source_include, a.build_include))
    for name, marked in decls:
        if not marked:
            problems.append("%s is declared in a public header without MK_EXTERN" % name)
    public = {name for name, marked in decls if marked}
    lib = exported(a.nm, a.lib)
    for name in sorted(lib - public):
        problems.append("%s is exported but declared in no public header" % name)
    for name in sorted(public - lib):
        problems.append("%s is declared MK_EXTERN but not exported" % name)
    for p in problems:
        print("check_exports: " + p)
    print("check_exports: %d public functions, %d exported symbols, %d problem(s)"
          % (len(public), len(lib), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
