#!/usr/bin/env python3
"""Cross-check `mosaik tdx build` measurements against a vTPM event log.

Usage: eventlog_check.py CONSOLE_LOG MEASUREMENTS_JSON

CONSOLE_LOG is the serial output of a boot (QEMU + OVMF + swtpm) of the
image with `mosaik.dumplog=1` on the command line: its /init prints
/sys/kernel/security/tpm0/binary_bios_measurements base64-encoded between
"MOSAIK-EVENTLOG-BEGIN <path>" and "MOSAIK-EVENTLOG-END".

The log is the TCG2 "crypto agile" format (TCG PC Client Platform Firmware
Profile, section 10): a first event in the SHA-1 TCG_PCR_EVENT layout whose
data is the "Spec ID Event03" structure listing the digest algorithms and
their sizes, then TCG_PCR_EVENT2 records
    u32 pcr, u32 type, u32 count, count x (u16 alg, digest), u32 size, data.

Checks (docs/tdx-builder.md, "independent cross-check"):
  * every RTMR1 event of measurements.json (kernel Authenticode, the EFI
    actions, the separator) appears in the log with the same event type and
    SHA-384 digest in a PCR that maps to RTMR1 (2..6), in the same order;
    the kernel event is the PCR 4 EV_EFI_BOOT_SERVICES_APPLICATION;
  * the RTMR2 events (LoadOptions, initrd) are exactly the PCR 9 events of
    the log, in order, as EV_EVENT_TAG with the Linux tag ids, and replaying
    PCR 9's SHA-384 bank gives the expected RTMR2.
(A TPM boot has one separator per PCR 0..6, a TD one in RTMR1, so RTMR1 is
compared event by event, not replayed.) Exit 0 on success, 1 on mismatch.
"""
import base64
import hashlib
import json
import re
import struct
import sys

ALG_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64}
ALG_SHA384 = 0x000C
TAG_LOAD_OPTIONS = 0x8F3B22ED
TAG_INITRD = 0x8F3B22EC
EV_NO_ACTION = 0x3
EV_EVENT_TAG = 0x6
MAX_EVENTS = 10000


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        if n < 0 or self.p + n > len(self.d):
            raise ValueError("event log truncated at offset %d" % self.p)
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def done(self):
        return self.p >= len(self.d)


def extract_log(console):
    text = console.replace("\r", "")
    m = re.search(r"MOSAIK-EVENTLOG-BEGIN (\S*binary_bios_measurements)\n(.*?)MOSAIK-EVENTLOG-END",
                  text, re.S)
    if not m:
        raise ValueError("no vTPM event log between the markers in the console log")
    b64 = "".join(l.strip() for l in m.group(2).split("\n")
                  if re.fullmatch(r"[A-Za-z0-9+/=]+", l.strip()))
    return base64.b64decode(b64)


def parse_log(log):
    r = Reader(log)
    # First event: TCG_PCR_EVENT (SHA-1 layout) carrying the Spec ID event.
    r.u32()
    if r.u32() != EV_NO_ACTION:
        raise ValueError("first event is not EV_NO_ACTION (not a crypto-agile log)")
    r.take(20)
    spec = Reader(r.take(r.u32()))
    if spec.take(16) != b"Spec ID Event03\0":
        raise ValueError("missing 'Spec ID Event03' header")
    spec.take(4 + 1 + 1 + 1 + 1)  # platform class, versions, uintn size
    sizes = {}
    for _ in range(spec.u32()):
        alg, size = spec.u16(), spec.u16()
        sizes[alg] = size
    if ALG_SHA384 not in sizes:
        raise ValueError("the log has no SHA-384 bank (swtpm_setup --pcr-banks sha384)")
    events = []
    while not r.done():
        if len(events) >= MAX_EVENTS:
            raise ValueError("more than %d events" % MAX_EVENTS)
        pcr, etype, count = r.u32(), r.u32(), r.u32()
        digests = {}
        for _ in range(count):
            alg = r.u16()
            if alg not in sizes:
                raise ValueError("unknown digest algorithm 0x%x" % alg)
            digests[alg] = r.take(sizes[alg])
        data = r.take(r.u32())
        events.append({"pcr": pcr, "type": etype, "sha384": digests.get(ALG_SHA384), "data": data})
    return events


def main():
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    console = open(sys.argv[1], "rb").read().decode("latin-1")
    meas = json.load(open(sys.argv[2]))
    events = parse_log(extract_log(console))
    print("event log: %d events" % len(events))
    failures = []

    # RTMR1: each event, in order, among PCR 2..6 events.
    want1 = [e for e in meas["events"] if e["rtmr"] == 1]
    pool = [e for e in events if 2 <= e["pcr"] <= 6 and e["type"] != EV_NO_ACTION]
    pos = 0
    for w in want1:
        d = bytes.fromhex(w["digest"])
        hit = next((i for i in range(pos, len(pool))
                    if pool[i]["type"] == w["event_type_id"] and pool[i]["sha384"] == d), None)
        if hit is None:
            failures.append("RTMR1 event '%s' (%s) not found in PCR 2..6 after position %d"
                            % (w["description"], w["digest"][:16], pos))
            continue
        print("RTMR1 %-45s = PCR%d event, sha384 %s..." % (w["description"][:45], pool[hit]["pcr"],
                                                          w["digest"][:24]))
        if w["event_type_id"] == 0x80000003 and pool[hit]["pcr"] != 4:
            failures.append("kernel event found in PCR %d, not 4" % pool[hit]["pcr"])
        pos = hit + 1

    # RTMR2 == PCR 9: same events in the same order, and the replay.
    want2 = [e for e in meas["events"] if e["rtmr"] == 2]
    got9 = [e for e in events if e["pcr"] == 9 and e["type"] != EV_NO_ACTION]
    if len(got9) != len(want2):
        failures.append("PCR 9 has %d events, expected %d RTMR2 events" % (len(got9), len(want2)))
    for w, g in zip(want2, got9):
        tag = struct.unpack_from("<I", g["data"], 0)[0] if len(g["data"]) >= 4 else None
        ok = g["type"] == EV_EVENT_TAG and g["sha384"] == bytes.fromhex(w["digest"])
        ok = ok and tag in (TAG_LOAD_OPTIONS, TAG_INITRD)
        print("RTMR2 %-45s %s PCR9 tag 0x%08x" % (w["description"][:45], "=" if ok else "!=",
                                                   tag or 0))
        if not ok:
            failures.append("RTMR2 event '%s': log has type 0x%x tag %s sha384 %s, expected %s"
                            % (w["description"], g["type"], hex(tag or 0),
                               (g["sha384"] or b"").hex(), w["digest"]))
    reg = bytes(48)
    for g in got9:
        reg = hashlib.sha384(reg + g["sha384"]).digest()
    if reg.hex() != meas["rtmr2"]:
        failures.append("PCR 9 replay %s != expected RTMR2 %s" % (reg.hex(), meas["rtmr2"]))
    else:
        print("PCR 9 replay = expected RTMR2 %s..." % meas["rtmr2"][:24])

    for f in failures:
        print("MISMATCH: " + f, file=sys.stderr)
    if not failures:
        print("eventlog_check: OK (%d RTMR1 + %d RTMR2 events match the vTPM log)"
              % (len(want1), len(want2)))
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, KeyError, OSError) as e:
        print("eventlog_check: %s" % e, file=sys.stderr)
        sys.exit(1)
