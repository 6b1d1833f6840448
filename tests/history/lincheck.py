#!/usr/bin/env python3
"""lincheck — a linearizability checker for the histories hist_node records.

Algorithm: Wing & Gong's search with Lowe's memoisation (the "WGL" of
Knossos and Porcupine), written for this test tree from the published
algorithm. Per partition the calls and returns are sorted by time into a
doubly linked list (calls before returns at equal times: intervals are
closed). The search walks the list: at a call it tries to linearize that
operation now (the model's step must accept it); if the resulting
configuration (set of linearized operations, model state) was seen
before, that branch is already explored and skipped, else the operation
is lifted out of the list and pushed on a stack. At a return whose call
was not linearized it backtracks (pops the last operation, puts it back,
tries the next call). The list running empty means linearizable; the
stack running empty at a return means not.

History rules (Knossos's): every operation is an invoke and a completion:
ok (took effect, output known), fail (took no effect: dropped), info
(unknown). An info operation, or an invoke without completion (its
process was killed), returns at +infinity, so it may linearize at any
point after its invocation or never; info reads are dropped (no effect).

P-compositionality (Horn & Kroening): the Map is checked key by key, the
Cell on its own. Models:
  Map key  state value|None; put v -> v; remove -> None (an ok remove's
           output "existed" must match); get must return the state.
  Cell     state (value, version); set x -> (x, version + 1) and an ok
           set's reported version must be version + 1; get must return
           the value.
The Map's version is shared by all keys, so it is checked apart from the
search: acknowledged version-changing operations (puts, removes that
removed) must report pairwise distinct versions (one version per logical
write), no version read may be below an acknowledged version that
completed before the read began (a lost write), and no version read may
exceed the number of version-changing operations invoked before it
returned (an extra application: a duplicate).

Usage: lincheck.py FILE...   (exit 0 linearizable, 1 not; prints a summary)
"""
import collections
import sys

INF = float("inf")
MUTATORS = {("map", "put"), ("map", "remove"), ("cell", "set")}


class Op:
    __slots__ = ("proc", "obj", "f", "key", "value", "out", "ver", "call", "ret", "status", "id")

    def __init__(self, proc, obj, f, key, value, call):
        self.proc, self.obj, self.f, self.key, self.value = proc, obj, f, key, value
        self.call, self.ret, self.status = call, INF, "info"
        self.out, self.ver, self.id = None, None, -1

    def __repr__(self):
        r = "inf" if self.ret == INF else "%d" % self.ret
        return "%s %s.%s(%s%s) -> %s%s [%d, %s] %s" % (
            self.proc, self.obj, self.f, "" if self.key in (None, "-") else self.key + " ",
            self.value or "", self.out, "" if self.ver is None else " v%d" % self.ver,
            self.call, r, self.status)


def _field(x):
    return None if x == "-" else x


def parse_lines(lines):
    """Operations from history lines (see hist_node.c); unpaired invokes are info."""
    pending, ops = {}, []
    for ln in lines:
        p = ln.split()
        if len(p) < 7:
            continue
        t, kind, proc, obj, f, key = int(p[0]), p[1], p[2], p[3], p[4], p[5]
        if kind == "invoke":
            op = Op(proc, obj, f, key, _field(p[6]), t)
            if proc in pending:
                raise ValueError("process %s invoked twice: %s" % (proc, ln))
            pending[proc] = op
            ops.append(op)
            continue
        op = pending.pop(proc, None)
        if op is None or op.obj != obj or op.f != f:
            raise ValueError("completion without its invoke: %s" % ln)
        op.status = kind
        if kind == "ok":
            op.ret = t
            op.out = _field(p[6])
            if len(p) > 7 and p[7] != "-":
                op.ver = int(p[7])
        elif kind == "fail":
            op.ret = t
    return ops


def parse_files(paths):
    ops = []
    for path in paths:
        with open(path) as fh:
            ops.extend(parse_lines(fh))
    return ops


# ----- models: step(state, op) -> (legal, new state) -----------------------------

def map_init():
    return None


def map_step(state, op):
    if op.f == "put":
        return True, op.value
    if op.f == "remove":
        if op.status == "ok" and op.out is not None and (op.out == "1") != (state is not None):
            return False, state
        return True, None
    if op.f == "get":
        want = None if op.out == "nil" else op.out
        return want == state, state
    raise ValueError("map op %s" % op.f)


def cell_init():
    return (None, 0)


def cell_step(state, op):
    value, ver = state
    if op.f == "set":
        if op.status == "ok" and op.ver is not None and op.ver != ver + 1:
            return False, state
        return True, (op.value, ver + 1)
    if op.f == "get":
        want = None if op.out == "nil" else op.out
        return want == value, state
    raise ValueError("cell op %s" % op.f)


# ----- the WGL search --------------------------------------------------------------

class _Node:
    __slots__ = ("op", "is_call", "match", "prev", "next")

    def __init__(self, op, is_call):
        self.op, self.is_call = op, is_call
        self.match = self.prev = self.next = None


def wgl(ops, init, step, max_steps=20_000_000):
    """(True, order) when ops are linearizable, (False, diagnostic) when not,
    (None, reason) when the search gave up after max_steps."""
    ops = sorted(ops, key=lambda o: (o.call, o.ret))
    for i, op in enumerate(ops):
        op.id = i
    events = []
    for op in ops:
        events.append((op.call, 0, op.id, True))
        events.append((op.ret, 1, op.id, False))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    head = _Node(None, False)
    prev, calls = head, {}
    for _, _, oid, is_call in events:
        n = _Node(ops[oid], is_call)
        if is_call:
            calls[oid] = n
        else:
            calls[oid].match = n
        prev.next, n.prev = n, prev
        prev = n

    def lift(c):
        c.prev.next = c.next
        if c.next:
            c.next.prev = c.prev
        r = c.match
        r.prev.next = r.next
        if r.next:
            r.next.prev = r.prev

    def unlift(c):
        r = c.match
        r.prev.next = r
        if r.next:
            r.next.prev = r
        c.prev.next = c
        if c.next:
            c.next.prev = c

    state, linearized, stack, cache = init(), 0, [], set()
    best, steps = 0, 0
    best_stuck = None
    entry = head.next
    while head.next is not None:
        steps += 1
        if steps > max_steps:
            return None, "gave up after %d steps" % max_steps
        if entry.is_call:
            legal, nstate = step(state, entry.op)
            if legal:
                nl = linearized | (1 << entry.op.id)
                key = (nl, nstate)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state, linearized = nstate, nl
                    lift(entry)
                    if len(stack) > best:
                        best = len(stack)
                        best_stuck = None
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if best_stuck is None and len(stack) == best:
                best_stuck = (entry.op, state, [s[0].op for s in stack[-5:]])
            if not stack:
                op, st, last = best_stuck or (entry.op, state, [])
                return False, {"linearized": best, "of": len(ops), "stuck_at": op,
                               "state": st, "last": last}
            c, state = stack.pop()
            linearized &= ~(1 << c.op.id)
            unlift(c)
            entry = c.next
    return True, [s[0].op for s in stack]


# ----- the whole check ----------------------------------------------------------------

def version_checks(ops, obj, verobj):
    """Anomalies of the collection version (see the module comment)."""
    out = []
    muts = [o for o in ops if (o.obj, o.f) in MUTATORS and o.obj == obj]
    acked = [o for o in muts if o.status == "ok" and o.ver is not None and
             (o.f != "remove" or o.out == "1")]
    seen = {}
    for o in acked:
        if o.ver in seen:
            out.append("%s: two acknowledged writes report version %d: %r / %r" %
                       (obj, o.ver, seen[o.ver], o))
        seen[o.ver] = o
    reads = [o for o in ops if o.obj == verobj and o.status == "ok" and o.out is not None]
    for r in reads:
        v = int(r.out)
        for o in acked:
            if o.ret < r.call and o.ver > v:
                out.append("%s: lost write: %r acknowledged version %d, a later read says %d" %
                           (obj, o, o.ver, v))
        possible = sum(1 for o in muts if o.call <= r.ret and o.status in ("ok", "info"))
        if v > possible:
            out.append("%s: version %d read at %d but only %d writes were invoked by then "
                       "(a write applied twice?)" % (obj, v, r.ret, possible))
    return out


def check(ops, max_steps=20_000_000):
    """A report: dict(ok, anomalies, unknown, counts)."""
    counts = collections.Counter((o.obj, o.status) for o in ops)
    live = [o for o in ops if o.status != "fail" and
            not (o.status == "info" and o.f in ("get", "read"))]
    anomalies, unknown = [], []
    anomalies += version_checks(ops, "map", "mapver")
    anomalies += version_checks(ops, "cell", "cellver")
    # An info put whose value no read ever returned may be dropped, on a
    # key no acknowledged remove found present: if a linearization applies
    # it, nothing observes the state between it and the next write of the
    # key (a read would have returned its unique value, a remove would
    # have found it), so the same order without it is a linearization too;
    # and conversely. This keeps unobserved unknown writes from multiplying
    # the search.
    observed = {(o.key, o.out) for o in live if o.obj == "map" and o.f == "get"}
    removed = {o.key for o in live if o.obj == "map" and o.f == "remove" and o.out == "1"}
    live = [o for o in live if not (o.obj == "map" and o.f == "put" and o.status == "info" and
                                    (o.key, o.value) not in observed and o.key not in removed)]
    parts = collections.defaultdict(list)
    for o in live:
        if o.obj == "map":
            parts[("map", o.key)].append(o)
        elif o.obj == "cell":
            parts[("cell", None)].append(o)
    for (obj, key), pops in sorted(parts.items(), key=lambda kv: str(kv[0])):
        init, step = (map_init, map_step) if obj == "map" else (cell_init, cell_step)
        ok, detail = wgl(pops, init, step, max_steps)
        name = "map[%s]" % key if obj == "map" else "cell"
        if ok is None:
            unknown.append("%s: %s" % (name, detail))
        elif not ok:
            anomalies.append("%s: not linearizable: %d of %d operations linearized; stuck at %r "
                             "in state %r after %r" % (name, detail["linearized"], detail["of"],
                                                       detail["stuck_at"], detail["state"],
                                                       detail["last"]))
    return {"ok": not anomalies and not unknown, "anomalies": anomalies, "unknown": unknown,
            "counts": counts, "partitions": len(parts), "ops": len(ops)}


def summary(rep):
    c = rep["counts"]
    lines = ["%d operations in %d partitions" % (rep["ops"], rep["partitions"])]
    for obj in ("map", "cell", "mapver", "cellver"):
        lines.append("  %-7s ok %d, info %d, fail %d" % (obj, c[(obj, "ok")], c[(obj, "info")],
                                                       c[(obj, "fail")]))
    lines.append("anomalies: %d" % len(rep["anomalies"]))
    lines += ["  " + a for a in rep["anomalies"][:10]]
    if rep["unknown"]:
        lines.append("inconclusive: " + "; ".join(rep["unknown"]))
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    rep = check(parse_files(argv[1:]))
    print(summary(rep))
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
