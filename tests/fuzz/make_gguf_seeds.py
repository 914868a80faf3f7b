#!/usr/bin/env python3
"""Seeds for fuzz_gguf (tests/fuzz/corpus/gguf/) from GGUF files `kllens quantize --format
gguf` wrote, cut down to a few KiB so that each fuzz execution stays short:
block 0 only (block_count 1), one row per tensor (or, with --whole-tensors, every tensor as it is) (the tensor table and the data section stay
consistent: offsets, alignment and sizes are recomputed), every metadata array cut to its
first 8 elements, and kllens.tokenizer.json replaced by a small tokenizer (or dropped).

  kllens quantize models/tiny-mamba --type q8 --format gguf -o /tmp/tiny-mamba-q8.gguf
  tests/fuzz/make_gguf_seeds.py /tmp/tiny-mamba-q8.gguf OUT.gguf [--tokenizer small.json]

Standard library only (the layout is in include/kllens/gguf.h)."""
import argparse
import struct

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# ggml type → (block elements, block bytes)
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 2: (32, 18)}


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.p:self.p + n]
        self.p += n
        return s

    def value(self, t):
        if t == STRING:
            return self.string()
        if t == ARRAY:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALAR[t])


def pack_value(t, v):
    if t == STRING:
        return struct.pack("<Q", len(v)) + v
    if t == ARRAY:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(pack_value(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def pack_string(s):
    return struct.pack("<Q", len(s)) + s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--tokenizer", help="tokenizer.json to store as kllens.tokenizer.json")
    ap.add_argument("--whole-tensors", action="store_true",
                    help="keep every kept tensor's shape and bytes (a model small enough to load: "
                         "make_micro_model.py)")
    a = ap.parse_args()
    r = Reader(open(a.src, "rb").read())
    magic, version, n_tensors, n_kv = r.take("<I"), r.take("<I"), r.take("<Q"), r.take("<Q")
    kv = []
    for _ in range(n_kv):
        key = r.string()
        t = r.take("<I")
        kv.append((key, t, r.value(t)))
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        tensors.append((name, ne, r.take("<I"), r.take("<Q")))
    align = dict((k, v) for k, _, v in kv).get(b"general.alignment", 32)
    data_start = r.p + (-r.p % align)

    out_kv = []
    for key, t, v in kv:
        if key.endswith(b".block_count"):
            v = 1
        elif key == b"kllens.tokenizer.json":
            if not a.tokenizer:
                continue
            v = open(a.tokenizer, "rb").read()
        elif key == b"kllens.tokenizer_config.json" and not a.tokenizer:
            continue
        elif t == ARRAY:
            v = (v[0], v[1][:8])
        out_kv.append((key, t, v))
    keep = [x for x in tensors if not x[0].startswith(b"blk.") or x[0].startswith(b"blk.0.")]
    keep = [x for x in keep if not x[0].startswith(b"model.layers.") or x[0].startswith(b"model.layers.0.")]

    table, data = b"", b""
    for name, ne, typ, offset in keep:
        if not a.whole_tensors:
            ne = ne[:1] + [1] * (len(ne) - 1)  # one row
        per, nbytes = BLOCK[typ]
        size = ne[0] // per * nbytes
        for d in ne[1:]:
            size *= d
        data += b"\0" * (-len(data) % align)
        table += pack_string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        table += struct.pack("<IQ", typ, len(data))
        if a.whole_tensors:
            data += r.b[data_start + offset:data_start + offset + size]
        else:
            data += bytes((i * 37 + 11) % 251 for i in range(size))  # any values: never computed with
    head = struct.pack("<IIQQ", magic, version, len(keep), len(out_kv))
    head += b"".join(pack_string(k) + struct.pack("<I", t) + pack_value(t, v) for k, t, v in out_kv)
    head += table
    head += b"\0" * (-len(head) % align)
    open(a.out, "wb").write(head + data)


if __name__ == "__main__":
    main()
