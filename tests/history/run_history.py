#!/usr/bin/env python3
"""Checked histories (issue 11 item 6): three hist_node processes, each a
member of a Map and a Cell with concurrent clients, while this driver
injects faults into leaders and followers; then lincheck checks the
recorded history.

Faults, in rounds over every (kind, target) pair, target = the current
leader of the Map or of the Cell group (alternating) or a follower:
  kill       SIGKILL, restart on the same data directory a moment later
  pause      SIGSTOP, SIGCONT 1.5 s later
  reset      abort every TCP connection of the process (ss -K in its
             network namespace; without it: a 100 ms cut through the hook)
  partition  cut the process off the network for 2 s (its veth link down;
             without namespaces: the groups' partition hook on both sides)
With root and `ip netns`, every node runs in a network namespace of its
own, joined by veth links to a bridge in a hub namespace; otherwise all
run on loopback and partitions and resets use the in-process hooks.

Then every fault is healed, the clients stop and every node reads every
key, the cell and both versions (strong); lincheck must find 0 anomalies
(linearizability per Map key and of the Cell; one version per write; no
acknowledged write lost; no write applied twice).

Usage: run_history.py --node PATH/hist_node [--cycles N] [--keep]
                      [--mode auto|netns|loopback]
Exit: 0 pass, 1 anomalies or a failure, 77 skipped (cannot run here).
"""
import argparse
import glob
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lincheck  # noqa: E402

N = 3
KINDS = ["kill", "pause", "reset", "partition"]


def sh(*cmd, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


class Netns:
    """One namespace per node, veth links to a bridge in a hub namespace."""

    def __init__(self):
        tag = "%d" % os.getpid()
        self.hub = "mkh" + tag
        self.ns = ["mkn%sx%d" % (tag, i) for i in range(N)]
        self.made = []

    @staticmethod
    def remove_stale():
        """Namespaces of earlier runs whose driver is gone (killed on a
        timeout before its cleanup ran)."""
        r = sh("ip", "netns", "list", check=False)
        for ln in r.stdout.splitlines():
            name = ln.split()[0] if ln.split() else ""
            m = re.match(r"^mk[hn](\d+)(x\d+)?$", name)
            if m and not os.path.exists("/proc/%s" % m.group(1)):
                sh("ip", "netns", "del", name, check=False)

    @staticmethod
    def available():
        if os.geteuid() != 0 or not shutil.which("ip"):
            return False
        name = "mkprobe%d" % os.getpid()
        if sh("ip", "netns", "add", name, check=False).returncode != 0:
            return False
        sh("ip", "netns", "del", name, check=False)
        return True

    def setup(self):
        self.remove_stale()
        sh("ip", "netns", "add", self.hub)
        self.made.append(self.hub)
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", self.hub, "link", "add", "v%d" % i, "type", "veth", "peer", "name",
               "eth0", "netns", ns)
            sh("ip", "-n", self.hub, "link", "set", "v%d" % i, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", "10.201.0.%d/24" % (i + 1), "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def teardown(self):
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)

    def addr(self, i):
        return "10.201.0.%d:7000" % (i + 1)

    def wrap(self, i, cmd):
        return ["ip", "netns", "exec", self.ns[i]] + cmd

    def partition(self, node, on):
        sh("ip", "-n", self.hub, "link", "set", "v%d" % node.i, "down" if on else "up")

    def reset(self, node):
        r = sh("ip", "netns", "exec", self.ns[node.i], "ss", "-K", "-t", "-n", "state",
               "established", check=False)
        return max(0, len(r.stdout.strip().splitlines()) - 1)


class Loopback:
    """All nodes on 127.0.0.1; partitions through the groups' partition
    hook on both sides of every cut link; a reset is a 100 ms cut."""

    def __init__(self):
        self.nodes = []
        self.ports = []
        # Each port stays reserved for the whole run (tests/net_util.h,
        # "Ports"): bound with SO_REUSEADDR, never listening, so the node
        # (and its restarts) can bind it while no other socket's automatic
        # port choice takes it in between.
        self.reserved = []
        for _ in range(N):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            self.ports.append(s.getsockname()[1])
            self.reserved.append(s)

    def setup(self):
        pass

    def teardown(self):
        for s in self.reserved:
            s.close()
        self.reserved = []

    def addr(self, i):
        return "127.0.0.1:%d" % self.ports[i]

    def wrap(self, i, cmd):
        return cmd

    def partition(self, node, on):
        node.signal(signal.SIGUSR2)  # toggles its cut from everyone
        for other in self.nodes:
            if other is not node:
                other.signal(signal.SIGRTMIN + node.i)  # toggles the cut from it

    def reset(self, node):
        self.partition(node, True)
        time.sleep(0.1)
        self.partition(node, False)
        return 0


class Node:
    def __init__(self, i, net, binary, work, ids):
        self.i, self.net, self.binary, self.work, self.ids = i, net, binary, work, ids
        self.inc, self.proc, self.paused = 0, None, False
        self.dir = os.path.join(work, "node%d" % i)
        os.makedirs(self.dir, exist_ok=True)
        self.status = os.path.join(work, "status%d" % i)

    def start(self):
        self.inc += 1
        cmd = [self.binary, "--seed", str(self.i), "--inc", str(self.inc), "--listen",
               self.net.addr(self.i), "--dir", self.dir, "--status", self.status, "--hist",
               os.path.join(self.work, "hist-%d-%d.log" % (self.i, self.inc))]
        for j in range(N):
            if j != self.i:
                cmd += ["--peer", "%s@%s" % (self.ids[j], self.net.addr(j))]
        if self.i == 0 and self.inc == 1:
            cmd.append("--bootstrap")
        if os.path.exists(self.status):
            os.unlink(self.status)
        log = open(os.path.join(self.work, "node%d.log" % self.i), "a")
        self.proc = subprocess.Popen(self.net.wrap(self.i, cmd), stdout=log, stderr=log)
        self.paused = False

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def read_status(self):
        try:
            with open(self.status) as fh:
                p = fh.read().split()
            return [int(x) for x in p]
        except (OSError, ValueError):
            return None


def leader(nodes, which):
    for n in nodes:
        st = n.read_status()
        if n.alive() and not n.paused and st and st[which]:
            return n
    return None


def fault(net, nodes, kind, target, which, rnd, log):
    lead = leader(nodes, which)
    if target == "leader":
        victim = lead or rnd.choice(nodes)
    else:
        victim = rnd.choice([n for n in nodes if n is not lead])
    what = "%s %s (node %d, %s leader %s)" % (kind, target, victim.i, ["map", "cell"][which],
                                              lead.i if lead else "?")
    if kind == "kill":
        victim.kill()
        time.sleep(0.6)
        victim.start()
    elif kind == "pause":
        victim.signal(signal.SIGSTOP)
        victim.paused = True
        time.sleep(1.5)
        victim.signal(signal.SIGCONT)
        victim.paused = False
    elif kind == "reset":
        k = net.reset(victim)
        time.sleep(0.4)
        k += net.reset(victim)
        what += ": %d connections aborted" % k
    elif kind == "partition":
        net.partition(victim, True)
        time.sleep(2.0)
        net.partition(victim, False)
    log(what)


def wait_until(pred, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.1)
    return False


def run(args):
    use_ns = args.mode == "netns" or (args.mode == "auto" and Netns.available())
    net = Netns() if use_ns else Loopback()
    mode = "network namespaces" if isinstance(net, Netns) else "loopback + hooks"
    work = tempfile.mkdtemp(prefix="mk-history-")
    t_start = time.time()

    def log(msg):
        print("# %6.1f s  %s" % (time.time() - t_start, msg), flush=True)

    ids = [sh(args.node, "--print-id", str(i)).stdout.strip() for i in range(N)]
    nodes = [Node(i, net, args.node, work, ids) for i in range(N)]
    if isinstance(net, Loopback):
        net.nodes = nodes
    rnd = random.Random(args.seed)
    ok = False
    try:
        net.setup()
        log("mode: %s; work dir %s" % (mode, work))
        for n in nodes:
            n.start()
        if not wait_until(lambda: leader(nodes, 0) and leader(nodes, 1), 60):
            log("no leaders")
            return 1
        time.sleep(2)
        plan = [(k, t) for k in KINDS for t in ("leader", "follower")]
        cycles = 0
        while cycles < args.cycles:
            for kind, target in plan:
                if cycles >= args.cycles:
                    break
                fault(net, nodes, kind, target, cycles % 2, rnd, log)
                cycles += 1
                time.sleep(1.0)
        log("%d fault cycles done; healing" % cycles)
        for n in nodes:
            if not n.alive():
                n.start()
            n.signal(signal.SIGCONT)
        time.sleep(3)
        for n in nodes:
            n.signal(signal.SIGUSR1)
        if not wait_until(lambda: all((n.read_status() or [0, 0, 0])[2] for n in nodes), 120):
            log("final reads did not finish")
            return 1
        dups = [(n.read_status() or [0] * 5)[3:5] for n in nodes]
        log("final reads done; duplicate log entries filtered (map, cell) per node: %s" % dups)
        for n in nodes:
            n.signal(signal.SIGTERM)
            n.proc.wait()
        files = sorted(glob.glob(os.path.join(work, "hist-*.log")))
        t0 = time.time()
        rep = lincheck.check(lincheck.parse_files(files))
        log("checked %d operations in %.1f s" % (rep["ops"], time.time() - t0))
        print(lincheck.summary(rep))
        ok = rep["ok"] and cycles >= 20
        log("%s" % ("PASS" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        for n in nodes:
            if n.proc and n.proc.poll() is None:
                n.signal(signal.SIGCONT)
                n.kill()
        net.teardown()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("# histories and logs kept in %s" % work)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True)
    ap.add_argument("--cycles", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--mode", choices=["auto", "netns", "loopback"], default="auto")
    args = ap.parse_args()
    if not os.access(args.node, os.X_OK):
        print("no hist_node at %s" % args.node)
        return 77
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
