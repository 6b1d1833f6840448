#!/usr/bin/env python3
"""No fixed sleep stands in for synchronisation before an assertion in the
tests (run by `make test`, scripts/test.sh stage 0).

The rule, for every test source under tests/ (C: *.c and *.h; shell: *.sh;
Python: *.py; tests/fuzz/corpus is data):

  sleep        a call of a sleep primitive. C: sleep, usleep, nanosleep, any
               macro defined as one (`#define sleep_ms tu_sleep_ms`) and any
               function whose body calls nothing but a sleep (a wrapper such
               as tu_sleep_ms); shell: the command `sleep`; Python: sleep()
               or time.sleep().
  polling      a sleep inside a wait loop: a while, until or do loop; a for
               loop whose condition tests more than a counter (&&, ||, !, or
               no condition) or whose body can leave early (break, return,
               goto, exit, raise, fail_msg, fail); or inside the arguments of
               a wait (below).
  fixed        every other sleep, including one in a counted loop (whose
               body is then read twice, as its second iteration follows the
               first).
  wait         a call whose name contains "wait", any case (TU_WAIT_UNTIL,
               TG_WAIT, WAIT_COND, mk_group_wait, waitpid, wait_for, ...),
               pthread_join, tu_loop_barrier, and the end of a wait loop
               that sleeps (a wait written out by hand).
  assertion    C: assert_*, fail_msg, fail, TU_ASSERT_*; shell: fail, expect,
               has (the helpers of tests/cli), `exit N` with N > 0 other
               than 77 (a skip); Python: assert, raise.

A fixed sleep is an error when an assertion follows it in the same function
(C, Python; for shell the same function or the top level) before a wait
does: the assertion would then rely on the sleep having been long enough.
Allowed are polling sleeps, and fixed sleeps that only shape a scenario (a
member down for a moment, a slow callback that widens a race) because a
wait for a condition comes between them and the next assertion. Macro
bodies are classified (a sleep alias, a wait) but not analysed themselves.

Known findings. KNOWN lists findings in files another branch is changing
at the time, each by file and the sleep's source line, with the change that
will replace it: they are printed as warnings, not failures, and an entry
that no longer matches anything is itself a failure (so the list cannot
outlive its findings).

Usage: scripts/check_sleeps.py [--quiet] [FILE...]   (default: all of
tests/). Before it checks the files it checks itself on the examples in
SELF_TEST, so the rule above is what the code does. Exit 1 on a finding.
"""
import ast
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

C_SLEEPS = {"sleep", "usleep", "nanosleep"}
C_ASSERT = re.compile(r"^(assert_\w+|fail_msg|fail|TU_ASSERT_\w+)$")
WAIT = re.compile(r"wait", re.I)
WAIT_NAMES = {"pthread_join", "tu_loop_barrier"}
EXITS = {"break", "return", "goto", "exit", "_exit", "fail_msg", "fail"}
C_KEYWORDS = {"if", "for", "while", "do", "switch", "return", "sizeof", "else", "case"}


def is_wait(name):
    return bool(WAIT.search(name)) or name in WAIT_NAMES


class Findings:
    def __init__(self):
        self.items = []

    def scan(self, path, events):
        """events: (kind, line) with kind sleep (fixed), wait or assert."""
        pending = []
        for kind, line in events:
            if kind == "sleep":
                pending.append(line)
            elif kind == "wait":
                pending = []
            elif kind == "assert" and pending:
                for s in pending:
                    if (path, s) not in {(p, q) for p, q, _ in self.items}:
                        self.items.append((path, s, line))
                pending = []


# ----- C ----------------------------------------------------------------------


def c_strip(text):
    """Comments and literals blanked (newlines kept); preprocessor lines
    returned apart as (line, text) with continuations joined."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1 : j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    code = "".join(out)
    lines, pre = code.split("\n"), []
    k = 0
    while k < len(lines):
        if lines[k].lstrip().startswith("#"):
            start, body = k, lines[k]
            while lines[k].rstrip().endswith("\\") and k + 1 < len(lines):
                lines[k] = ""
                k += 1
                body = body.rstrip()[:-1] + " " + lines[k]
            lines[k] = ""
            pre.append((start + 1, body))
        k += 1
    return "\n".join(lines), pre


def c_tokens(code):
    toks, line = [], 1
    for m in re.finditer(r"\n|[A-Za-z_]\w*|\d\w*|&&|\|\||->|[^\s]", code):
        t = m.group()
        if t == "\n":
            line += 1
        else:
            toks.append((t, line))
    return toks


def c_match(toks, i):
    """Index of the bracket closing toks[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    o, c, d = toks[i][0], pairs[toks[i][0]], 0
    for j in range(i, len(toks)):
        if toks[j][0] == o:
            d += 1
        elif toks[j][0] == c:
            d -= 1
            if d == 0:
                return j
    return len(toks) - 1


def c_functions(toks):
    """(name, body_start, body_end) of every function definition."""
    out, i = [], 0
    while i < len(toks):
        t = toks[i][0]
        if t == "{":
            j = c_match(toks, i)
            if i > 0 and toks[i - 1][0] == ")":
                k, d = i - 1, 0
                while k >= 0:
                    d += toks[k][0] == ")"
                    d -= toks[k][0] == "("
                    if d == 0:
                        break
                    k -= 1
                if k > 0 and re.match(r"[A-Za-z_]", toks[k - 1][0]):
                    out.append((toks[k - 1][0], i + 1, j))
            i = j + 1
        else:
            i += 1
    return out


class CWalker:
    """Statements of one function body -> events (tests/testutil-level C)."""

    def __init__(self, toks, sleeps):
        self.t, self.sleeps, self.ev = toks, sleeps, []

    def stmt(self, i, end, polling):
        t = self.t
        if i >= end:
            return end
        w = t[i][0]
        if w == "{":
            j = c_match(t, i)
            k = i + 1
            while k < j:
                k = self.stmt(k, j, polling)
            return j + 1
        if w in ("for", "while") and i + 1 < end and t[i + 1][0] == "(":
            h = c_match(t, i + 1)
            head = [x[0] for x in t[i + 2 : h]]
            self.expr(i + 2, h, polling)
            body_end = self.stmt_end(h + 1, end)
            body = {x[0] for x in t[h + 1 : body_end]}
            if w == "while":
                loop_polls = True
            else:
                parts = " ".join(head).split(";")
                cond = parts[1] if len(parts) > 2 else ""
                loop_polls = (not cond.strip() or any(x in cond.split() for x in ("&&", "||", "!"))
                              or bool(body & EXITS))
            return self.loop(h + 1, body_end, polling or loop_polls, loop_polls)
        if w == "do":
            body_end = self.stmt_end(i + 1, end)
            self.loop(i + 1, body_end, True, True)
            k = body_end
            while k < end and t[k][0] != ";":
                k += 1
            self.expr(body_end, k, True)
            return k + 1
        if w in ("if", "switch") and i + 1 < end and t[i + 1][0] == "(":
            h = c_match(t, i + 1)
            self.expr(i + 2, h, polling)
            k = self.stmt(h + 1, end, polling)
            if w == "if" and k < end and t[k][0] == "else":
                k = self.stmt(k + 1, end, polling)
            return k
        j = self.stmt_end(i, end)
        self.expr(i, j, polling)
        return j

    def loop(self, i, j, polling, loop_polls):
        before = len(self.ev)
        for _ in range(1 if polling else 2):
            self.stmt(i, j, polling)
        if loop_polls and any(k == "psleep" for k, _ in self.ev[before:]):
            self.ev.append(("wait", self.t[j - 1][1]))
        return j

    def stmt_end(self, i, end):
        """Index after the statement starting at i."""
        t = self.t
        if i < end and t[i][0] == "{":
            return c_match(t, i) + 1
        if i < end and t[i][0] in ("for", "while", "if", "switch") and t[i + 1][0] == "(":
            h = c_match(t, i + 1)
            k = self.stmt_end(h + 1, end)
            if t[i][0] == "if" and k < end and t[k][0] == "else":
                k = self.stmt_end(k + 1, end)
            return k
        if i < end and t[i][0] == "do":
            k = self.stmt_end(i + 1, end)
            while k < end and t[k][0] != ";":
                k += 1
            return k + 1
        k = i
        while k < end and t[k][0] != ";":
            if t[k][0] in "({[":
                k = c_match(t, k)
            k += 1
        return min(k + 1, end)

    def expr(self, i, j, polling):
        t, k = self.t, i
        while k < j:
            w, line = t[k]
            call = (k + 1 < j and t[k + 1][0] == "(" and re.match(r"[A-Za-z_]", w)
                    and w not in C_KEYWORDS)
            if call and is_wait(w):
                self.ev.append(("wait", line))
                k = c_match(t, k + 1) + 1
                continue
            if call and w in self.sleeps:
                self.ev.append(("psleep" if polling else "sleep", line))
            elif call and C_ASSERT.match(w):
                self.ev.append(("assert", line))
            k += 1


def c_sleep_names(texts):
    """The sleep primitives, their macro aliases and wrapper functions."""
    names = set(C_SLEEPS)
    parsed = []
    for text in texts:
        code, pre = c_strip(text)
        toks = c_tokens(code)
        parsed.append((pre, toks, c_functions(toks)))
    for _ in range(4):
        for pre, toks, funcs in parsed:
            for _, d in pre:
                m = re.match(r"\s*#\s*define\s+(\w+)(\([^)]*\))?\s+(.*)$", d)
                if not m or is_wait(m.group(1)):
                    continue
                calls = set(re.findall(r"(\w+)\s*\(", m.group(3))) | {m.group(3).strip()}
                if calls & names and not re.search(r"\b(for|while|do)\b", m.group(3)):
                    names.add(m.group(1))
            for name, a, b in funcs:
                calls = {toks[k][0] for k in range(a, b - 1)
                         if toks[k + 1][0] == "(" and re.match(r"[A-Za-z_]", toks[k][0])
                         and toks[k][0] not in C_KEYWORDS | {"long", "int", "unsigned"}}
                if calls and calls <= names and not {"for", "while", "do"} & {
                        toks[k][0] for k in range(a, b)}:
                    names.add(name)
    return names


def check_c(path, text, sleeps, findings):
    code, _ = c_strip(text)
    toks = c_tokens(code)
    for name, a, b in c_functions(toks):
        if name in sleeps:
            continue
        w = CWalker(toks, sleeps)
        k = a
        while k < b:
            k = w.stmt(k, b, False)
        findings.scan(path, [e for e in w.ev if e[0] != "psleep"])


# ----- shell --------------------------------------------------------------------

SH_SEP = re.compile(r"\s*(?:;|&&|\|\||\||\bthen\b|\bdo\b|\belse\b|\{|\}|\(|\)|!|\$\()\s*")


def sh_lines(text):
    """(line number, code) without comments and here-document bodies."""
    out, heredoc = [], None
    for n, raw in enumerate(text.split("\n"), 1):
        if heredoc:
            if raw.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", raw)
        if m:
            heredoc = m.group(1)
        code, q = [], None
        for i, c in enumerate(raw):
            if q:
                q = None if c == q else q
            elif c in "'\"":
                q = c
            elif c == "#" and (i == 0 or raw[i - 1] in " \t;"):
                break
            code.append(c)
        out.append((n, "".join(code)))
    return out


def sh_commands(code):
    return [p.split() for p in SH_SEP.split(code) if p.strip()]


def check_sh(path, text, findings):
    lines = sh_lines(text)
    # loops: a stack of [kind, start index, has_exit, sleeps]
    events, stack = [], []
    loops = {}  # start index -> polling
    for idx, (n, code) in enumerate(lines):
        for cmd in sh_commands(code):
            w = cmd[0]
            if w in ("for", "while", "until"):
                stack.append([w, idx, False])
            elif w == "done" and stack:
                kind, start, has_exit = stack.pop()
                loops[start] = (kind != "for" or has_exit, idx)
            elif w in ("break", "return", "exit") and stack:
                stack[-1][2] = True
    stack = []
    for idx, (n, code) in enumerate(lines):
        if re.match(r"\s*(function\s+)?[\w-]+\s*\(\)\s*\{?", code) or re.match(r"\s*\}\s*$", code):
            events.append(("wait", n))  # a function's start or end: a new scope
        for cmd in sh_commands(code):
            w = cmd[0]
            if idx in loops and w in ("for", "while", "until"):
                stack.append(loops[idx])
            elif w == "done" and stack:
                polls, _ = stack.pop()
                if polls:
                    events.append(("wait", n))
            elif w == "sleep":
                polling = any(p for p, _ in stack)
                if not polling:
                    events.append(("sleep", n))
            elif is_wait(w):
                events.append(("wait", n))
            elif w in ("fail", "expect", "has") or (
                    w == "exit" and len(cmd) > 1 and cmd[1].isdigit() and cmd[1] not in ("0", "77")):
                events.append(("assert", n))
    findings.scan(path, events)


# ----- Python -------------------------------------------------------------------


def py_name(call):
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


class PyWalker:
    def __init__(self):
        self.ev = []

    def body(self, stmts, polling):
        for s in stmts:
            self.stmt(s, polling)

    def stmt(self, s, polling):
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return
        if isinstance(s, (ast.While, ast.For)):
            exits = any(isinstance(x, (ast.Break, ast.Return, ast.Raise)) for x in ast.walk(s))
            polls = isinstance(s, ast.While) or exits
            before = len(self.ev)
            for _ in range(1 if polling or polls else 2):
                self.body(s.body, polling or polls)
            if polls and any(k == "psleep" for k, _ in self.ev[before:]):
                self.ev.append(("wait", s.lineno))
            self.body(s.orelse, polling)
            return
        if isinstance(s, (ast.Assert, ast.Raise)):
            self.ev.append(("assert", s.lineno))
        for field in ("test", "value", "targets", "iter", "items", "exc"):
            node = getattr(s, field, None)
            for sub in node if isinstance(node, list) else [node]:
                if isinstance(sub, ast.AST):
                    self.expr(sub, polling)
        for field in ("body", "orelse", "finalbody", "handlers"):
            sub = getattr(s, field, None)
            if isinstance(sub, list):
                for x in sub:
                    if isinstance(x, ast.ExceptHandler):
                        self.body(x.body, polling)
                    else:
                        self.stmt(x, polling)

    def expr(self, e, polling):
        for node in ast.walk(e):
            if isinstance(node, ast.Call):
                name = py_name(node)
                if is_wait(name):
                    self.ev.append(("wait", node.lineno))
                elif name == "sleep":
                    self.ev.append(("psleep" if polling else "sleep", node.lineno))


def check_py(path, text, findings):
    tree = ast.parse(text, filename=path)
    scopes = [tree.body] + [n.body for n in ast.walk(tree)
                            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for body in scopes:
        w = PyWalker()
        w.body(body, False)
        findings.scan(path, [e for e in w.ev if e[0] != "psleep"])


# ----- known findings ---------------------------------------------------------------

KNOWN = {}


# ----- the files, and the rule's own examples ------------------------------------

SELF_TEST = [
    # (language, source, lines of the fixed sleeps it must report)
    ("c", "static void sleep_ms(int ms) { struct timespec t = {0, ms}; nanosleep(&t, 0); }\n"
          "static void f(void) {\n sleep_ms(50);\n assert_true(x);\n}\n", [3]),
    ("c", "#define nap tu_sleep_ms\nvoid f(void) {\n nap(5);\n if (a) fail_msg(\"no\");\n}\n", [3]),
    ("c", "void f(void) {\n tu_sleep_ms(5);\n TU_WAIT_UNTIL(ok(), 100, \"ok\");\n assert_true(ok());\n}\n",
     []),
    ("c", "void f(void) {\n for (int i = 0; i < 4; i++) {\n  tu_sleep_ms(5);\n  send();\n }\n"
          " assert_int_equal(n, 0);\n}\n", [3]),
    ("c", "void f(void) {\n for (int i = 0; i < 4 && !up; i++)\n  tu_sleep_ms(5);\n"
          " assert_true(up);\n}\n", []),
    ("c", "void f(void) {\n while (!up) tu_sleep_ms(5);\n assert_true(up);\n}\n", []),
    ("c", "void f(void) {\n for (int i = 0; i < 9; i++) {\n  if (up) break;\n  tu_sleep_ms(5);\n }\n"
          " assert_true(up);\n}\n", []),
    ("c", "void g(void) {\n tu_sleep_ms(300); /* down a while */\n restart();\n"
          " TG_WAIT(online(), 100, \"x\");\n assert_true(online());\n}\n", []),
    ("c", "void f(void) {\n TG_WAIT((done() || (tu_sleep_ms(100), 0)), 100, \"d\");\n"
          " assert_true(done());\n}\n", []),
    ("c", "void cb(void *c) {\n tu_sleep_ms(200); /* widen the window */\n count++;\n}\n", []),
    ("sh", "sleep 1\n[ -s f ] || fail \"no f\"\n", [1]),
    ("sh", "for _ in $(seq 50); do [ -s f ] && break; sleep 0.1; done\nexpect 0 x -- true\n", []),
    ("sh", "for _ in 1 2 3; do sleep 0.1; done\nhas out ok x\n", [1]),
    ("sh", "sleep 1\nwait_for a b 10 || fail x\n", []),
    ("sh", "cat <<'EOF'\nsleep 1\nEOF\nfail x\n", []),
    ("sh", "sleep 1\nexit 77\n", []),
    ("py", "import time\ndef f():\n    time.sleep(1)\n    assert ok()\n", [3]),
    ("py", "import time\ndef f():\n    while not ok():\n        time.sleep(0.1)\n    assert ok()\n", []),
    ("py", "import time\ndef f():\n    time.sleep(1)\n    wait_until(ok, 5)\n    assert ok()\n", []),
]


def check_text(path, text, sleeps, findings):
    if path.endswith((".c", ".h")):
        check_c(path, text, sleeps, findings)
    elif path.endswith(".sh"):
        check_sh(path, text, findings)
    elif path.endswith(".py"):
        check_py(path, text, findings)


def self_test():
    ext = {"c": ".c", "sh": ".sh", "py": ".py"}
    base = c_sleep_names([src for lang, src, _ in SELF_TEST if lang == "c"] +
                         ["static void tu_sleep_ms(unsigned ms) { nanosleep(0, 0); }"])
    bad = []
    for k, (lang, src, want) in enumerate(SELF_TEST):
        f = Findings()
        check_text("example%d%s" % (k, ext[lang]), src, base, f)
        got = sorted({s for _, s, _ in f.items})
        if got != want:
            bad.append("self-test %d (%s): reported lines %s, want %s" % (k, lang, got, want))
    return bad


def test_files():
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, "tests")):
        dirs[:] = sorted(x for x in dirs if x != "corpus")
        for f in sorted(files):
            if f.endswith((".c", ".h", ".sh", ".py")):
                out.append(os.path.join(d, f))
    return out


def main(argv):
    quiet = "--quiet" in argv
    paths = [a for a in argv if a != "--quiet"] or test_files()
    bad = self_test()
    if bad:
        print("\n".join(bad))
        return 1
    texts = {p: open(p, encoding="utf-8").read() for p in paths}
    # The sleep names come from every C file of the tests (an alias may be
    # defined in a helper header) and the files given.
    c_paths = set(test_files()) | set(texts)
    sleeps = c_sleep_names([texts[p] if p in texts else open(p, encoding="utf-8").read()
                            for p in sorted(c_paths) if p.endswith((".c", ".h"))])
    f = Findings()
    for p, t in texts.items():
        check_text(p, t, sleeps, f)
    bad, used = 0, set()
    for path, s, a in f.items:
        rel = os.path.relpath(path, ROOT)
        key = (rel, texts[path].split("\n")[s - 1].strip())
        where = "%s:%d: fixed sleep before the assertion on line %d" % (rel, s, a)
        if key in KNOWN:
            used.add(key)
            print("%s (known, warning only: %s)" % (where, KNOWN[key]))
        else:
            bad += 1
            print("%s (wait for the condition with a deadline instead; scripts/check_sleeps.py)"
                  % where)
    if paths == test_files():
        for key in sorted(set(KNOWN) - used):
            bad += 1
            print("%s: the KNOWN entry for %r matches nothing: remove it" % key)
    if not quiet and not bad:
        print("check_sleeps: %d test files, no fixed sleep before an assertion%s"
              % (len(paths), " (%d known)" % len(used) if used else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
