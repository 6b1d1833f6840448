#!/usr/bin/env python3
"""The file index of docs/architecture.md, kept true to the tree.

Every source file under src/ and tools/ opens with a comment whose first
sentence says its one job ("path — job."). This script rebuilds the index
section of docs/architecture.md (between the BEGIN/END markers) from those
comments, so the map cannot drift from the code:

  scripts/architecture_index.py --write   rewrite the section in place
  scripts/architecture_index.py --check   exit 1 if the section is stale
                                          (run by make test, via check_structure)

Only the generated section is touched; the prose around it is hand-written.
"""
import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOC = os.path.join(ROOT, "docs", "architecture.md")
BEGIN = "<!-- BEGIN FILE INDEX (scripts/architecture_index.py --write) -->"
END = "<!-- END FILE INDEX -->"


def job_of(path):
    """First paragraph of the top comment, without its leading "name —"."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if not lines or not lines[0].startswith("/*"):
        return None
    words = []
    for line in lines[1:]:
        s = line.strip()
        if s.startswith("*/"):
            break
        s = s.lstrip("*").strip()
        if not s:
            if words:
                break
            continue
        words.append(s)
    text = " ".join(words)
    text = re.sub(r"^\S+\s+[—-]+\s+", "", text)
    # the first sentence: up to a ". " or the end (keep it short for a table)
    m = re.match(r"(.+?\.)(\s|$)", text)
    if m:
        text = m.group(1)
    if len(text) > 200:
        text = text[:197].rstrip() + "…"
    return text.replace("|", "\\|")


def index():
    out = []
    files = sorted(glob.glob(os.path.join(ROOT, "src", "**", "*.[ch]"), recursive=True))
    files += sorted(glob.glob(os.path.join(ROOT, "tools", "**", "*.[ch]"), recursive=True))
    folder = None
    for f in files:
        rel = os.path.relpath(f, ROOT)
        d = os.path.dirname(rel)
        if d != folder:
            if folder is not None:
                out.append("")
            out.append("### `%s/`" % d)
            out.append("")
            out.append("| file | its one job |")
            out.append("| --- | --- |")
            folder = d
        job = job_of(f)
        out.append("| `%s` | %s |" % (os.path.basename(rel), job if job else "**no top comment**"))
    return "\n".join(out) + "\n"


def main_check():
    return run("--check", quiet=True)


def main():
    return run(sys.argv[1] if len(sys.argv) > 1 else "--check")


def run(mode, quiet=False):
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    a, b = doc.find(BEGIN), doc.find(END)
    if a < 0 or b < a:
        print("docs/architecture.md: index markers missing")
        return 1
    fresh = doc[: a + len(BEGIN)] + "\n" + index() + doc[b:]
    if mode == "--write":
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(fresh)
        return 0
    if fresh != doc:
        if not quiet:
            print("docs/architecture.md: the file index is stale; run scripts/architecture_index.py --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
