#!/usr/bin/env python3
"""Generate frd/_power_tables.h (the constants of frd/_power.c) from mathematical
rules with mpmath, and verify each generated number against the constant table of
SVML's double-precision pow (object __dpow_ha_CoutTab in linux/avx512/
svml_z0_pow_d_ha.s of numpy's SVML repository). Aborts if anything differs.

Run: python tools/gen_power_tables.py PATH/TO/svml_z0_pow_d_ha.s

Rules found (all verified bit for bit):
  rcp1[i], i=0..32   : 1/(1+i/32) rounded to nearest with 14 bits after the leading 1
  rcp2[j], j=0..32   : j<=14: 1/(1+j/512), j>=15: 1/(1-(32-j)/1024), same rounding
                       (j>=15 serves arguments just below 1, whose mantissa bits wrap)
  L                  : log2(e) truncated to 22 bits after the leading 1
  rcp3[k], k=0..128  : k<=60: L/(1+k/2^15), k>=61: L/(1-(128-k)/2^16),
                       rounded to nearest with 22 bits after the leading 1
  logtab hi/lo       : v = -log2(rcp) (rcp1 part minus 1 for i>=16; rcp3 part as
                       -log2(rcp3/L)); hi = v truncated toward zero to a multiple
                       of 2^-42 (so sums of his stay exact), lo = round(v - hi)
  exp2 hi/lo, t<128  : hi = round(2^(t/128)), lo = (2^(t/128) - hi) truncated
                       toward zero to double
  exp poly c1..c5    : ln2^n / n!  rounded
  log poly c1        : -log2(e) / (2 L^2) rounded
  log poly c0,c2,c3  : fitted coefficients, not reproducible by a simple rule;
                       included as figures.
"""

import math
import re
import struct
import sys
from pathlib import Path

from mpmath import ceil, factorial, floor, log, mp, mpf, nint

mp.prec = 300
OUT = Path(__file__).resolve().parents[1] / "frd" / "_power_tables.h"


def shipped_table(path: str) -> tuple:
    """The doubles of __dpow_ha_CoutTab, from the assembly's .long words."""
    lines = Path(path).read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("__dpow_ha_CoutTab:"))
    words = []
    for line in lines[start + 1 :]:
        match = re.match(r"\s*\.long\s+(\S+)", line)
        if not match:
            break
        words.append(int(match.group(1)) & 0xFFFFFFFF)
    raw = b"".join(struct.pack("<I", w) for w in words)
    return struct.unpack(f"<{len(raw) // 8}d", raw)


def rnd_rel(v, bits):
    """v rounded to nearest with `bits` bits after the leading one."""
    q = mpf(2) ** (int(floor(log(v, 2))) - bits)
    return float(nint(v / q) * q)


def trunc_rel(v, bits):
    """v truncated to `bits` bits after the leading one."""
    q = mpf(2) ** (int(floor(log(v, 2))) - bits)
    return float(floor(v / q) * q)


def hi_lo_42(v):
    """hi: v truncated toward zero to a multiple of 2^-42 (sums of his stay exact); lo: the rest."""
    q = mpf(2) ** -42
    h = (floor(v / q) if v >= 0 else ceil(v / q)) * q
    return float(h), float(v - h)


def to_double_tz(v):
    """v rounded to a double toward zero."""
    f = float(v)
    if abs(mpf(f)) > abs(v):
        f = math.nextafter(f, 0.0)
    return f


def tables() -> dict:
    log2e = 1 / log(2)
    rcp1 = [rnd_rel(1 / (1 + mpf(i) / 32), 14) for i in range(33)]
    rcp2 = [
        rnd_rel(1 / (1 + mpf(j) / 512), 14) if j <= 14 else rnd_rel(1 / (1 - mpf(32 - j) / 1024), 14) for j in range(33)
    ]
    big_l = trunc_rel(log2e, 22)
    rcp3 = [
        rnd_rel(big_l / (1 + mpf(k) / 2**15), 22) if k <= 60 else rnd_rel(big_l / (1 - mpf(128 - k) / 2**16), 22)
        for k in range(129)
    ]
    exp2 = []
    for t in range(128):
        v = mpf(2) ** (mpf(t) / 128)
        exp2.append((float(v), to_double_tz(v - float(v))))
    return {
        "L": big_l,
        "rcp1": rcp1,
        "rcp2": rcp2,
        "rcp3": rcp3,
        "log1": [hi_lo_42(-log(mpf(rcp1[i]), 2) - (1 if i >= 16 else 0)) for i in range(33)],
        "log2": [hi_lo_42(-log(mpf(rcp2[j]), 2)) for j in range(33)],
        "log3": [hi_lo_42(-log(mpf(rcp3[k]) / mpf(big_l), 2)) for k in range(129)],
        "exp2": exp2,
        "pexp": [float(log(2) ** n / factorial(n)) for n in range(1, 6)],
        # the log2 polynomial: c1 by its rule, c0, c2 and c3 fitted (figures, no rule)
        "plog": [
            float.fromhex("0x1.9c3a6966457e8p-24"),
            float(-log2e / (2 * mpf(big_l) ** 2)),
            float.fromhex("0x1.47fd462b6dee1p-3"),
            float.fromhex("-0x1.550472a9012d8p-4"),
        ],
    }


def differences(t: dict, shipped: tuple) -> tuple[list, int]:
    """(byte offset, ours, SVML's) for every entry that differs, at the offsets the routine reads."""
    pairs = []
    for i in range(33):
        pairs += [(8 * i, t["rcp1"][i]), (264 + 16 * i, t["log1"][i][0]), (272 + 16 * i, t["log1"][i][1])]
        pairs += [(792 + 8 * i, t["rcp2"][i]), (1056 + 16 * i, t["log2"][i][0]), (1064 + 16 * i, t["log2"][i][1])]
    for k in range(129):
        pairs += [(1584 + 8 * k, t["rcp3"][k]), (2616 + 16 * k, t["log3"][k][0]), (2624 + 16 * k, t["log3"][k][1])]
    for j in range(128):
        pairs += [(4680 + 16 * j, t["exp2"][j][0]), (4688 + 16 * j, t["exp2"][j][1])]
    pairs += list(zip((6760, 6768, 6776, 6784, 6792), t["pexp"]))
    pairs += list(zip((6728, 6736, 6744, 6752), t["plog"]))
    pairs += [(6848, t["L"]), (6840, float.fromhex("0x1.8p45")), (6856, 134217729.0)]
    same = lambda a, b: struct.pack("<d", a) == struct.pack("<d", b)  # noqa: E731
    return [(off, v.hex(), shipped[off // 8].hex()) for off, v in pairs if not same(v, shipped[off // 8])], len(pairs)


def array(name: str, values, per: int = 3) -> str:
    rows = [f"static const double {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per):
        rows.append("    " + " ".join(v.hex() + "," for v in values[i : i + per]))
    return "\n".join([*rows, "};"])


def header(t: dict) -> str:
    parts = [
        "/* Generated by tools/gen_power_tables.py from mathematical rules (see its\n"
        " * docstring) and verified there, value by value, against the constants of\n"
        " * SVML's pow. Do not edit. */",
        f"#define SP_L {t['L'].hex()} /* log2(e) truncated to 23 significant bits */",
        array("sp_rcp1", t["rcp1"]),
        array("sp_rcp2", t["rcp2"]),
        array("sp_rcp3", t["rcp3"]),
        "/* log2 tables: value = hi + lo, hi a multiple of 2^-42 */",
    ]
    for name, key in (("sp_log1", "log1"), ("sp_log2", "log2"), ("sp_log3", "log3"), ("sp_exp2", "exp2")):
        parts.append(array(name + "_hi", [p[0] for p in t[key]]))
        parts.append(array(name + "_lo", [p[1] for p in t[key]]))
    parts.append(f"static const double sp_plog[4] = {{ {', '.join(v.hex() for v in t['plog'])} }};")
    parts.append(f"static const double sp_pexp[5] = {{ {', '.join(v.hex() for v in t['pexp'])} }};")
    return "\n".join(parts) + "\n"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    shipped = shipped_table(sys.argv[1])
    t = tables()
    bad, checked = differences(t, shipped)
    print(f"checked {checked} table entries against SVML's; {len(bad)} differ")
    if bad:
        print(bad[:20])
        return 1
    OUT.write_text(header(t))
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
