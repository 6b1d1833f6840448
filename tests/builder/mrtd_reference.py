#!/usr/bin/env python3
"""MRTD of a TDX firmware image (TDVF / OVMF), computed independently of
mosaik's C code, as the expected values of the real-firmware checks.

Written from the specifications only, not from src/tee/tdx/measure:
  * Intel TDX Virtual Firmware Design Guide (TDVF), "TDVF Metadata": the
    descriptor "TDVF", length, version 1, number of sections, then one
    32-byte entry per section: DataOffset u32, RawDataSize u32,
    MemoryAddress u64, MemoryDataSize u64, Type u32, Attributes u32
    (bit 0 = MR.EXTEND). The descriptor is found by scanning the image for
    "TDVF" followed (at +8) by version 1, not through OVMF's GUIDed table.
  * Intel TDX Module ABI / base spec, TDH.MEM.PAGE.ADD and TDH.MR.EXTEND:
    MRTD is SHA-384 over 128-byte buffers; PAGE.ADD: "MEM.PAGE.ADD" padded
    to 16 bytes, the page's GPA (u64 LE), zeros; MR.EXTEND: "MR.EXTEND"
    padded to 16 bytes, the chunk's GPA, zeros, then the 256 bytes of the
    chunk. Every page of every section is added; MR.EXTEND covers each
    256-byte chunk of the sections with attribute bit 0 (bytes past
    RawDataSize are zero).
  * Page order: interleaved (each page added, then its 16 chunks extended:
    QEMU >= 9) or two-pass (per section, all pages added, then all its
    chunks extended: QEMU 8.2-era TDX), as in include/mosaik/tdx_measure.h.

usage: mrtd_reference.py IMAGE              prints "interleaved HEX" and "two-pass HEX"
       mrtd_reference.py IMAGE ORDER HEX    exit 1 unless the MRTD of ORDER is HEX
"""
import hashlib
import struct
import sys


def sections(img):
    for off in range(0, len(img) - 16, 4):
        if img[off:off + 4] == b"TDVF" and struct.unpack_from("<I", img, off + 8)[0] == 1:
            n = struct.unpack_from("<I", img, off + 12)[0]
            if 0 < n <= 64 and off + 16 + 32 * n <= len(img):
                return [struct.unpack_from("<IIQQII", img, off + 16 + 32 * k) for k in range(n)]
    sys.exit("no TDVF metadata descriptor in the image")


def block(tag, gpa):
    return (tag.ljust(16, b"\0") + struct.pack("<Q", gpa)).ljust(128, b"\0")


def chunk(img, doff, rsize, at):
    return img[doff + at:doff + min(at + 256, rsize)].ljust(256, b"\0") if at < rsize else bytes(256)


def mrtd(img, order):
    h = hashlib.sha384()
    for doff, rsize, addr, msize, _typ, attr in sections(img):
        pages = range(0, msize, 4096)
        if order == "interleaved":
            for p in pages:
                h.update(block(b"MEM.PAGE.ADD", addr + p))
                if attr & 1:
                    for c in range(p, p + 4096, 256):
                        h.update(block(b"MR.EXTEND", addr + c) + chunk(img, doff, rsize, c))
        else:
            for p in pages:
                h.update(block(b"MEM.PAGE.ADD", addr + p))
            if attr & 1:
                for c in range(0, msize, 256):
                    h.update(block(b"MR.EXTEND", addr + c) + chunk(img, doff, rsize, c))
    return h.hexdigest()


def main(argv):
    if len(argv) not in (2, 4):
        sys.exit(__doc__)
    img = open(argv[1], "rb").read()
    if len(argv) == 2:
        for order in ("interleaved", "two-pass"):
            print(order, mrtd(img, order))
        return 0
    got = mrtd(img, argv[2])
    if got != argv[3].lower():
        print("%s MRTD %s, expected %s" % (argv[2], got, argv[3]))
        return 1
    print("%s MRTD %s: as expected" % (argv[2], got))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
