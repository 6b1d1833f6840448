#!/usr/bin/env python3
"""The checker's own test: hand-made histories, in hist_node's line format,
that it must accept (sequential and concurrent histories, unknown writes
that take effect late or never, failed operations) and refuse (a stale
read, a lost write, a duplicate application seen by a read, by the Cell's
version and by the Map's version, a read of a value nobody wrote).

Run: python3 test_lincheck.py   (exit 0 when every case behaves)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lincheck  # noqa: E402


def ev(t, kind, proc, obj, f, key="-", val="-", ver="-"):
    return "%d %s %s %s %s %s %s %s" % (t, kind, proc, obj, f, key, val, ver)


def put(p, k, v, t0, t1, ver, kind="ok"):
    out = [ev(t0, "invoke", p, "map", "put", k, v)]
    if kind:
        out.append(ev(t1, kind, p, "map", "put", k, "-", ver))
    return out


def get(p, k, v, t0, t1, kind="ok"):
    return [ev(t0, "invoke", p, "map", "get", k), ev(t1, kind, p, "map", "get", k, v)]


def rm(p, k, existed, t0, t1, ver):
    return [ev(t0, "invoke", p, "map", "remove", k),
            ev(t1, "ok", p, "map", "remove", k, existed, ver)]


def cset(p, v, t0, t1, ver, kind="ok"):
    out = [ev(t0, "invoke", p, "cell", "set", "-", v)]
    if kind:
        out.append(ev(t1, kind, p, "cell", "set", "-", "-", ver))
    return out


def cget(p, v, t0, t1):
    return [ev(t0, "invoke", p, "cell", "get"), ev(t1, "ok", p, "cell", "get", "-", v)]


def ver(p, obj, v, t0, t1):
    return [ev(t0, "invoke", p, obj, "read"), ev(t1, "ok", p, obj, "read", "-", str(v))]


def run(lines):
    # Interleave by time, as several files would.
    lines = sorted(lines, key=lambda ln: int(ln.split()[0]))
    return lincheck.check(lincheck.parse_lines(lines))


ACCEPT = {
    "sequential map": put("a", "k", "1", 0, 1, 1) + get("b", "k", "1", 2, 3) +
    put("a", "k", "2", 4, 5, 2) + get("b", "k", "2", 6, 7) + rm("a", "k", "1", 8, 9, 3) +
    get("b", "k", "nil", 10, 11) + ver("c", "mapver", 3, 12, 13),
    "concurrent read sees the new value": put("a", "k", "1", 0, 10, 1) + get("b", "k", "1", 2, 3),
    "concurrent read sees the old value": put("a", "k", "1", 0, 10, 1) + get("b", "k", "nil", 2, 3),
    "reads agree on an order": put("a", "k", "1", 0, 10, 1) + put("b", "k", "2", 0, 10, 2) +
    get("c", "k", "2", 11, 12) + get("d", "k", "2", 13, 14),
    "unknown write takes effect late": put("a", "k", "1", 0, 0, 1, kind=None) +
    get("b", "k", "nil", 5, 6) + get("b", "k", "1", 7, 8),
    "unknown write never takes effect": put("a", "k", "1", 0, 0, 1, kind="info") +
    get("b", "k", "nil", 5, 6) + get("b", "k", "nil", 7, 8) + ver("c", "mapver", 0, 9, 10),
    "failed read ignored": put("a", "k", "1", 0, 1, 1) + get("b", "k", "zzz", 2, 3, kind="fail"),
    "keys are independent": put("a", "k", "1", 0, 1, 1) + put("a", "j", "2", 2, 3, 2) +
    get("b", "k", "1", 4, 5) + get("c", "j", "2", 4, 5),
    "cell sequential": cset("a", "x", 0, 1, 1) + cget("b", "x", 2, 3) + cset("a", "y", 4, 5, 2) +
    cget("b", "y", 6, 7) + ver("c", "cellver", 2, 8, 9),
    "cell: unknown set applied, versions follow": cset("a", "x", 0, 0, None, kind="info") +
    cset("b", "y", 5, 6, 2) + cget("c", "y", 7, 8),
    "cell: unknown set not applied": cset("a", "x", 0, 0, None, kind="info") +
    cset("b", "y", 5, 6, 1) + cget("c", "y", 7, 8),
}

REFUSE = {
    "stale read": put("a", "k", "1", 0, 1, 1) + put("a", "k", "2", 2, 3, 2) +
    get("b", "k", "1", 4, 5),
    "lost write (map)": put("a", "k", "1", 0, 1, 1) + get("b", "k", "nil", 2, 3),
    "lost write (cell)": cset("a", "x", 0, 1, 1) + cget("b", "nil", 2, 3),
    "lost write (version rolled back)": put("a", "k", "1", 0, 1, 1) + put("a", "k", "2", 2, 3, 2) +
    ver("c", "mapver", 1, 4, 5),
    "duplicate apply seen by a read": put("a", "k", "1", 0, 1, 1) + put("b", "k", "2", 2, 3, 2) +
    get("c", "k", "1", 4, 5) + get("c", "k", "1", 6, 7),
    "duplicate apply seen by the cell's versions": cset("a", "x", 0, 1, 1) +
    cset("b", "y", 2, 3, 3),
    "duplicate apply seen by the cell's value": cset("a", "x", 0, 1, 1) + cset("b", "y", 2, 3, 2) +
    cget("c", "x", 4, 5),
    "duplicate apply: one version for two writes": put("a", "k", "1", 0, 1, 1) +
    put("b", "j", "2", 2, 3, 1),
    "duplicate apply: more versions than writes": put("a", "k", "1", 0, 1, 1) +
    put("b", "k", "2", 2, 3, 3) + ver("c", "mapver", 3, 4, 5),
    "read of a value never written": get("a", "k", "9", 0, 1),
    "remove found nothing after an acknowledged put": put("a", "k", "1", 0, 1, 1) +
    rm("b", "k", "0", 2, 3, 1),
    "read order contradicts real time": put("a", "k", "1", 0, 10, 1) + get("b", "k", "1", 2, 3) +
    get("c", "k", "nil", 4, 5),
}


def expect_ok(name, lines):
    import time
    t0 = time.time()
    rep = lincheck.check(lincheck.parse_lines(sorted(lines, key=lambda ln: int(ln.split()[0]))))
    if not rep["ok"]:
        print("FAIL (refused a valid history): %s\n%s" % (name, lincheck.summary(rep)))
        return 1
    print("ok   accepted: %s (%.2f s)" % (name, time.time() - t0))
    return 0


def concurrent(n, seed):
    """A linearizable history by construction: each op gets an interval and
    a linearization point inside it; outputs follow the points' order."""
    import random
    rnd = random.Random(seed)
    procs, ops, busy_until = 6, [], [0] * 6
    for i in range(n):
        p = rnd.randrange(procs)
        t0 = busy_until[p] + rnd.randrange(1, 20)
        t1 = t0 + rnd.randrange(1, 60)
        busy_until[p] = t1 + 1
        lp = rnd.uniform(t0, t1)
        kind = rnd.random()
        ops.append([lp, p, t0, t1, "put" if kind < 0.5 else "get", "k%d" % rnd.randrange(3), i])
    ops.sort()
    state, nv, lines, gen = {}, 0, [], [0] * procs
    for lp, p, t0, t1, f, k, i in ops:
        proc = "p%dg%d" % (p, gen[p])
        if f == "put":
            nv += 1
            v = "v%d" % i
            state[k] = v
            if rnd.random() < 0.03:  # unknown outcome (it did take effect)
                lines += put(proc, k, v, t0, t1, nv, kind="info")
                gen[p] += 1
            else:
                lines += put(proc, k, v, t0, t1, nv)
        else:
            lines += get(proc, k, state.get(k, "nil"), t0, t1)
    return lines


def main():
    bad = 0
    for name, lines in ACCEPT.items():
        rep = run(lines)
        if not rep["ok"]:
            bad += 1
            print("FAIL (refused a valid history): %s\n%s" % (name, lincheck.summary(rep)))
        else:
            print("ok   accepted: %s" % name)
    for name, lines in REFUSE.items():
        rep = run(lines)
        if rep["ok"] or not rep["anomalies"]:
            bad += 1
            print("FAIL (accepted a bad history): %s" % name)
        else:
            print("ok   refused:  %s (%s)" % (name, rep["anomalies"][0][:90]))
    # Larger valid histories: sequential, then concurrent ones made by
    # running a register at chosen linearization points inside random
    # intervals (6 processes, overlapping calls, some unknown writes).
    lines, t, model, nv = [], 0, {}, 0
    for i in range(3000):
        k = "k%d" % (i % 5)
        if i % 3:
            nv += 1
            lines += put("p%d" % (i % 7), k, "v%d" % i, t, t + 1, nv)
            model[k] = "v%d" % i
        else:
            lines += get("p%d" % (i % 7), k, model.get(k, "nil"), t, t + 1)
        t += 2
    bad += expect_ok("3000 sequential operations", lines)
    bad += expect_ok("2400 concurrent operations", concurrent(2400, seed=7))
    if bad:
        print("%d case(s) failed" % bad)
        return 1
    print("all %d cases behave" % (len(ACCEPT) + len(REFUSE) + 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
