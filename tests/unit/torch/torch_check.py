"""Shared by the PyTorch reference scripts of tests/unit: torch detection (exit 77, which ctest reports as Skipped),
float32 hex formatting, reading the values a C++ test embeds, and the comparison with a stated tolerance."""
import re
import sys

SKIP = 77
_FLOAT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][-+]?\d+|\d+\.\d*(?:[eE][-+]?\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)f?")


def require_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        print(f"SKIPPED: {sys.executable} cannot import torch ({e}); the embedded PyTorch values are not re-derived")
        sys.exit(SKIP)
    import torch
    return torch


def hexf(v):
    """A float32 value as a C++ hex float literal."""
    import struct
    v = struct.unpack("f", struct.pack("f", float(v)))[0]
    mantissa, exponent = float(v).hex().split("p")
    return mantissa.rstrip("0") + "p" + exponent + "f"


def floats_in(text):
    return [float.fromhex(m.rstrip("fF")) if "x" in m.lower() else float(m.rstrip("fF")) for m in _FLOAT.findall(text)]


def embedded(source, name):
    """The float literals of `name = { ... };` in a C++ file (nested braces flattened)."""
    text = open(source).read()
    m = re.search(r"\b" + re.escape(name) + r"\s*=\s*\{", text)
    if m is None:
        raise SystemExit(f"{source}: no array named {name}")
    depth, i = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return floats_in(text[m.end():i - 1])


def compare(label, computed, expected, rel, abs_):
    """|computed - expected| <= rel |expected| + abs_ elementwise; prints the largest difference."""
    computed = [float(v) for v in computed]
    if len(computed) != len(expected):
        print(f"FAIL {label}: {len(computed)} values computed, {len(expected)} embedded")
        return False
    worst, ok = 0.0, True
    for k, (c, e) in enumerate(zip(computed, expected)):
        d = abs(c - e)
        worst = max(worst, d)
        if d > rel * abs(e) + abs_:
            print(f"FAIL {label}[{k}]: PyTorch {c!r} ({hexf(c)}), embedded {e!r}")
            ok = False
    print(f"{'ok' if ok else 'FAIL'} {label}: {len(expected)} values, largest difference {worst:.3g} "
          f"(tolerance {rel:g} relative + {abs_:g})")
    return ok
