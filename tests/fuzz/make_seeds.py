#!/usr/bin/env python3
"""Writes the seed corpora of the reader fuzz harnesses into tests/fuzz/corpus/<reader>/ (small valid files and
a few broken ones). Only the Python standard library. Run once; scripts/fuzz.sh then grows and merges them.
Usage: tests/fuzz/make_seeds.py [corpus folder]"""
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
SEP = b"--EBM-NEXT-FILE--"


def put(reader, name, data):
    folder = os.path.join(ROOT, reader)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def put_crash(reader, name, data):
    """An input that still fails its harness (a reader being rewritten): tests/fuzz/crashes/<reader>/, not replayed."""
    folder = os.path.join(HERE, "crashes", reader)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gzip(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


# ---- IDX: mode byte (bit 0: the harness gzips) + file -----------------------------------------------------------
def idx(type_code, shape, payload):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + payload


images = idx(0x08, [2, 3, 4], bytes(range(24)))
labels = idx(0x08, [5], bytes([0, 1, 2, 9, 4]))
put("idx", "images", b"\0" + images)
put("idx", "images-harness-gzip", b"\1" + images)
put("idx", "images-gzip", b"\0" + gzip(images))
put("idx", "labels", b"\0" + labels)
put("idx", "labels-gzip-two-members", b"\0" + gzip(labels[:5]) + gzip(labels[5:]))
put("idx", "floats", b"\0" + idx(0x0D, [2, 2], struct.pack(">4f", 1, 2, 3, 4)))
put("idx", "doubles", b"\0" + idx(0x0E, [1], struct.pack(">d", 0.5)))
put("idx", "shorts-4d", b"\0" + idx(0x0B, [1, 1, 2, 1], b"\0\1\0\2"))
put("idx", "truncated", b"\0" + images[:-3])
put("idx", "trailing", b"\0" + images + b"\0")
put("idx", "bad-magic", b"\0" + b"\1\0\x08\x03" + images[4:])
put("idx", "gzip-corrupt", b"\0" + gzip(images)[:-6] + b"xxxxxx")
put("idx", "gzip-truncated", b"\0" + gzip(images)[:12])
put("idx", "empty-dims", b"\0" + idx(0x08, [0, 28, 28], b""))

# ---- CIFAR-10: mode byte (bit 0 gzip each file, bit 1 folder test_batch.bin) + files split by SEP ----------------
def record(label, fill):
    return bytes([label]) + bytes([(fill + k) % 256 for k in range(3072)])


put("cifar", "one", b"\0" + record(3, 0))
put("cifar", "two-records", b"\0" + record(0, 1) + record(9, 2))
put("cifar", "two-files", b"\0" + record(1, 0) + SEP + record(2, 5))
put("cifar", "gzip", b"\1" + record(7, 3))
put("cifar", "raw-gzip", b"\0" + gzip(record(5, 3)))
put("cifar", "folder", b"\2" + record(4, 9))
put("cifar", "bad-label", b"\0" + record(10, 0))
put("cifar", "truncated", b"\0" + record(1, 0)[:-1])
put("cifar", "empty-second", b"\0" + record(1, 0) + SEP)


# ---- PNG -----------------------------------------------------------------------------------------------------------
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, bit_depth, colour_type, rows, palette=None, trns=None, interlace=0, extra=b""):
    raw = b"".join(b"\0" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace))
    out += extra
    if palette is not None:
        out += chunk(b"PLTE", palette)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return out


gray = png(4, 3, 8, 0, [bytes([10 * r + c for c in range(4)]) for r in range(3)])
rgb = png(3, 2, 8, 2, [bytes(range(9)), bytes(range(9, 18))])
rgba = png(2, 2, 8, 6, [bytes(range(8)), bytes(range(8, 16))])
gray_alpha = png(2, 1, 8, 4, [bytes([1, 2, 3, 255])])
palette = png(4, 2, 2, 3, [b"\x1b", b"\xe4"], palette=bytes(range(12)), trns=b"\x80")
gray16 = png(2, 2, 16, 0, [b"\0\1\2\3", b"\4\5\6\7"])
bits = png(8, 2, 1, 0, [b"\xaa", b"\x55"])
gamma = png(2, 2, 8, 0, [b"\0\1", b"\2\3"], extra=chunk(b"gAMA", struct.pack(">I", 45455)))
rgb_interlaced = png(3, 3, 8, 2, [bytes(range(9))] * 3, interlace=1)  # (rows as if not interlaced: decodes or errors)
for name, data in [("gray", gray), ("rgb", rgb), ("rgba", rgba), ("gray-alpha", gray_alpha), ("palette", palette),
                   ("gray16", gray16), ("bits", bits), ("gamma", gamma), ("interlaced", rgb_interlaced),
                   ("truncated", rgb[:-20]), ("bad-crc", gray[:30] + b"\0" + gray[31:]), ("not-png", b"GIF89a....")]:
    put("png", name, b"\1" + data)  # mode byte: bit 0, the harness fixes the chunk CRCs
    if name in ("gray", "bad-crc"):
        put("png", name + "-crc-as-is", b"\0" + data)

# ---- PNG folder: channels byte (0, 1, 3, invalid 2) + flags byte (bit k: file k is .txt; 16: sub-folder; 32: the
# harness fixes the chunk CRCs) + files ----------------------------------------------------------------------------
put("image_folder", "two-gray", b"\0\x20" + gray + SEP + gray)
put("image_folder", "rgb-as-gray", b"\1\x20" + rgb + SEP + rgb)
put("image_folder", "gray-as-rgb", b"\2\0" + gray)
put("image_folder", "mixed-sizes", b"\0\0" + gray + SEP + rgb)
put("image_folder", "with-text", b"\0\x22" + rgba + SEP + b"notes" + SEP + rgba)
put("image_folder", "only-text", b"\0\1" + b"hello")
put("image_folder", "subfolder", b"\0\x30" + palette + SEP + palette + SEP + palette)
put("image_folder", "bad-channels", b"\3\0" + gray)
put("image_folder", "corrupt-second", b"\0\0" + gray + SEP + gray[:-20])


# ---- .npy ------------------------------------------------------------------------------------------------------------
def npy(header_dict, payload, major=1):
    text = header_dict.encode()
    pre = 10 if major == 1 else 12
    pad = (64 - (pre + len(text) + 1) % 64) % 64
    text = text + b" " * pad + b"\n"
    length = struct.pack("<H", len(text)) if major == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([major, 0]) + length + text + payload


f4 = struct.pack("<6f", *range(6))
put("npy", "2x3", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4))
put("npy", "vector", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f4))
put("npy", "scalar", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f4[:4]))
put_crash("npy", "empty-array-seed-empty.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", b""))
put("npy", "v2", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", f4, major=2))
put("npy", "v3", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6, 1, 1), }", f4, major=3))
put("npy", "long-shape", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", f4))
put("npy", "f8", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f4))
put("npy", "fortran", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f4))
put("npy", "size-mismatch", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", f4))
put("npy", "bad-shape", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", f4))
put("npy", "no-descr", npy("{'fortran_order': False, 'shape': (6,), }", f4))
put("npy", "v9", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f4, major=9))
put("npy", "truncated", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f4)[:20])


# ---- safetensors -------------------------------------------------------------------------------------------------
def safetensors(entries, data, metadata=None, pad=True):
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    header.update(entries)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


two = struct.pack("<6f", *range(6))
put("safetensors", "two", safetensors({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}, two,
                                      metadata={"format": "pt"}))
put("safetensors", "scalar-empty", safetensors({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
                                                "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]}}, two[:4]))
put("safetensors", "f64-i64-u32-u64", safetensors({
    "d": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]},
    "i": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
    "u": {"dtype": "U32", "shape": [2], "data_offsets": [16, 24]},
    "w": {"dtype": "U64", "shape": [1], "data_offsets": [24, 32]}}, struct.pack("<dqIIQ", 1.5, -2, 3, 4, 5)))
put("safetensors", "overlap", safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, two))
put("safetensors", "outside", safetensors({"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}, two))
put("safetensors", "bf16", safetensors({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, two[:4]))
put("safetensors", "bad-json", struct.pack("<Q", 6) + b"{\"a\":}" + two)
put("safetensors", "header-too-long", struct.pack("<Q", 1 << 40) + b"{}")
put("safetensors", "empty", safetensors({}, b""))


# ---- checkpoints (read_checkpoint_info): safetensors + ebm metadata + crc32.<tensor> ----------------------------------
def checkpoint(tensors, metadata, fix_crc=True):
    entries, data = {}, b""
    meta = dict(metadata)
    for name, (dtype, shape, payload) in sorted(tensors.items()):
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
        if fix_crc:
            meta["crc32." + name] = "%08x" % (zlib.crc32(payload) & 0xFFFFFFFF)
    return safetensors(entries, data, metadata=meta)


counters = {"trainer.iteration": ("U64", [1], struct.pack("<Q", 1200)),
            "trainer.seed": ("U64", [1], struct.pack("<Q", 7)),
            "trainer.sampler_steps": ("U64", [1], struct.pack("<Q", 120000))}
meta = {"format": "ebm.checkpoint.v1", "architecture": "mlp[2,8,1] leaky_relu(0.2)", "config": "{}", "iteration": "1200"}
put("checkpoint", "minimal", checkpoint(counters, meta))
put("checkpoint", "with-params", checkpoint(dict(counters, **{
    "energy.parameters": ("F32", [4], struct.pack("<4f", 1, 2, 3, 4)),
    "initializer.order": ("U32", [2], struct.pack("<2I", 1, 0))}), meta))
put("checkpoint", "bad-crc", checkpoint(counters, dict(meta, **{"crc32.trainer.seed": "00000000"}), fix_crc=False))
put("checkpoint", "no-format", checkpoint(counters, {k: v for k, v in meta.items() if k != "format"}))
put("checkpoint", "other-format", checkpoint(counters, dict(meta, format="ebm.checkpoint.v0")))
put("checkpoint", "seed-u32", checkpoint(dict(counters, **{"trainer.seed": ("U32", [1], b"\7\0\0\0")}), meta))
put("checkpoint", "no-seed", checkpoint({k: v for k, v in counters.items() if k != "trainer.seed"}, meta))
put("checkpoint", "bad-dtype", checkpoint(dict(counters, x=("Q8", [1], b"\0")), meta))
put("checkpoint", "truncated", checkpoint(counters, meta)[:-5])

# ---- configurations (parse_config) ---------------------------------------------------------------------------------
configs = {
    "empty": "",
    "object": "{}",
    "preset": '{"preset": "anatomy_convergent"}',
    "preset-code": '{"preset": "anatomy_convergent_code", "training": {"iterations": 10}}',
    "full": json.dumps({
        "preset": "short_run",
        "data": {"source": "idx", "path": "x.idx", "labels": "", "train_split": False, "image_size": 28,
                 "channels": 1, "fit": "resize", "limit": 100},
        "model": {"architecture": "convnet", "features": 32, "negative_slope": 0.05, "init_seed": 3},
        "sampler": {"kind": "langevin", "steps": 50, "epsilon": 0.01, "step_size": 1.0, "noise": 0.005},
        "init": {"kind": "persistent_bank", "low": -1, "high": 1, "scale": 1, "bank_size": 1000, "rejuvenation": 0.05},
        "optimizer": {"kind": "sgd", "learning_rate": 0.001, "scale_by_step": True, "beta1": 0.5, "beta2": 0.9,
                      "momentum": 0.9, "anneal": {"start": 0, "end": 1000, "initial_factor": 10, "final_factor": 1}},
        "training": {"iterations": 1000, "batch_size": 64, "seed": 1, "data_noise": 0.03,
                     "data_noise_anneal": {"start": 10, "end": 20, "initial_factor": 1, "final_factor": 0.5}},
        "output": {"folder": "runs/x", "image_every": 10, "checkpoint_every": 100, "keep_checkpoints": 3,
                   "grid_images": 16, "progress": False},
        "divergence": {"energy_limit": 1e6, "max_retries": 2}}, indent=1),
    "unknown-key": '{"sampler": {"stepz": 3}}',
    "wrong-type": '{"training": {"batch_size": "64"}}',
    "negative-unsigned": '{"training": {"iterations": -5}}',
    "huge-int": '{"output": {"keep_checkpoints": 4294967298}}',
    "huge-float": '{"optimizer": {"learning_rate": 1e300}}',
    "bad-preset": '{"preset": "long_run"}',
    "not-object": "[1, 2, 3]",
    "bad-json": '{"data": {',
    "section-not-object": '{"data": 5}',
    "unicode": '{"output": {"folder": "r\\u00e9sultats/\\ud83d\\ude00"}}',
}
for name, text in configs.items():
    put("config", name, text.encode())

# ---- CSV: "<first_iteration>\n" + the diagnostics file -----------------------------------------------------------
header = ("iteration,d,v,r,acceptance,positive_energy,negative_energy,learning_rate,seconds,non_finite_rejections,"
          "diverged")
rows = ["%d,%.9g,%.9g,%.9g,%.6g,%.9g,%.9g,%.9g,%.6g,%d,%d" % (t, 0.1 * t, 1.5, 0.01, -1, 2.0 - t, 1.0, 1e-4, 0.02, 0, 0)
        for t in range(4)]
good = header + "\n" + "\n".join(rows) + "\n"
put("csv", "keep-two", ("2\n" + good).encode())
put("csv", "keep-all", ("10\n" + good).encode())
put("csv", "keep-none", ("0\n" + good).encode())
put("csv", "header-only", ("5\n" + header + "\n").encode())
put("csv", "empty-file", b"3\n")
put("csv", "nan-inf", ("9\n" + header + "\n5,nan,inf,-inf,0.5,1,1,1,1,3,1\n").encode())
put("csv", "malformed-row", ("9\n" + header + "\n1,2,3\n\n2,x,1,1,1,1,1,1,1,1,0\n").encode())
put("csv", "bad-header", ("1\niteration,d\n0,1\n").encode())
put("csv", "negative-iteration", ("18446744073709551615\n" + header + "\n-1,0,0,0,0,0,0,0,0,0,0\n").encode())
put("csv", "crlf", ("3\n" + good.replace("\n", "\r\n")).encode())
# ---- network descriptions (load_network_spec): the JSON file ------------------------------------------------------
def conv(i, o, k, s=1, p=0, **extra):
    return dict({"type": "Conv2d", "in_channels": i, "out_channels": o, "kernel_size": k, "stride": s, "padding": p},
                **extra)


networks = {
    "mlp": {"input": [2], "layers": [{"type": "Linear", "in_features": 2, "out_features": 8}, {"type": "LeakyReLU",
            "negative_slope": 0.2}, {"type": "Linear", "in_features": 8, "out_features": 1}]},
    "conv-stack-silu": {"input": [1, 8, 8], "layers": [conv(1, 4, 3, 1, 1), {"type": "SiLU"}, conv(4, 8, 4, 2, 1),
                        {"type": "ELU", "alpha": 0.5}, conv(8, 1, 4)]},
    "pools-flatten": {"input": [2, 6, 6], "negate": True, "layers": [conv(2, 3, 3, 1, 1), {"type": "GELU"},
                      {"type": "MaxPool2d", "kernel_size": 3, "stride": 1}, {"type": "AvgPool2d", "kernel_size": 2},
                      {"type": "Flatten"}, {"type": "Linear", "in_features": 12, "out_features": 1}]},
    "residual-nonlocal": {"input": [2, 4, 4], "layers": [
        {"type": "ResidualBlock", "in_channels": 2, "out_channels": 4, "activation": {"type": "Tanh"}},
        {"type": "NonLocalBlock", "channels": 4},
        {"type": "Sequential", "name": "head", "layers": [conv(4, 1, 4, bias=False), {"type": "Softplus", "beta": 2}]},
        {"type": "Flatten"}, {"type": "Linear", "in_features": 1, "out_features": 1}]},
    "unit-on-input": {"input": [1, 3, 3], "layers": [{"type": "Sigmoid"}, conv(1, 1, 3)]},
    "shape-mismatch": {"input": [3, 8, 8], "layers": [conv(1, 4, 3)]},
    "unknown-layer": {"input": [2], "layers": [{"type": "Dense"}]},
    "huge": {"input": [3, 4096, 4096], "layers": [conv(3, 4096, 3), conv(4096, 1, 4094)]},
}
for name, net in networks.items():
    put("network", name, json.dumps(net).encode())
put("network", "bad-json", b'{"input": [2], "layers": [')
put("network", "not-object", b"[1, 2]")

print("seed corpora written to", ROOT)
