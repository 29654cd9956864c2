"""Derives the encodings of the Ed25519 points of small order (the 8-torsion subgroup) from the
curve's definition, and checks each one: it decodes, 8*P is the identity, and its order is as
stated. Pure Python, no third-party package. Prints the canonical y values as Rust byte arrays
(little-endian, as Ed25519 encodes them).

The curve (RFC 8032 section 5.1): -x^2 + y^2 = 1 + d*x^2*y^2 over GF(p), p = 2^255 - 19,
d = -121665/121666, base point order L = 2^252 + 27742317777372353535851937790883648493,
cofactor 8. Every point P of the full group has L*P in the 8-torsion subgroup, so multiplying
points decoded from a few y values by L finds all 8 torsion points without knowing them first.
"""

p = 2**255 - 19
d = -121665 * pow(121666, p - 2, p) % p
L = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (p - 1) // 4, p)
assert SQRT_M1 * SQRT_M1 % p == p - 1
IDENTITY = (0, 1)


def on_curve(point):
    x, y = point
    return (-x * x + y * y - 1 - d * x * x * y * y) % p == 0


def add(a, b):
    """Twisted Edwards addition (a = -1), complete for this curve."""
    (x1, y1), (x2, y2) = a, b
    t = d * x1 * x2 * y1 * y2 % p
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, p - 2, p) % p
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, p - 2, p) % p
    return (x3, y3)


def mul(n, point):
    result = IDENTITY
    while n:
        if n & 1:
            result = add(result, point)
        point = add(point, point)
        n >>= 1
    return result


def decode(encoding):
    """RFC 8032 section 5.1.3, strict: None for y >= p, a y off the curve, or x = 0 with sign 1."""
    value = int.from_bytes(encoding, "little")
    sign, y = value >> 255, value & ((1 << 255) - 1)
    if y >= p:
        return None
    u, v = (y * y - 1) % p, (d * y * y + 1) % p
    x = u * pow(v, 3, p) * pow(u * pow(v, 7, p), (p - 5) // 8, p) % p
    if v * x * x % p == (p - u) % p:
        x = x * SQRT_M1 % p
    if v * x * x % p != u:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = p - x
    return (x, y)


def encode(point):
    x, y = point
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def order(point):
    for n in (1, 2, 4, 8):
        if mul(n, point) == IDENTITY:
            return n
    raise AssertionError("not in the 8-torsion subgroup")


torsion = {IDENTITY}
y = 2
while len(torsion) < 8 and y < 1000:
    for sign in (0, 1):
        point = decode((y | (sign << 255)).to_bytes(32, "little"))
        if point is not None:
            assert on_curve(point)
            torsion.add(mul(L, point))
    y += 1
assert len(torsion) == 8, torsion

for point in sorted(torsion, key=lambda q: (order(q), q[1], q[0] & 1)):
    encoding = encode(point)
    assert decode(encoding) == point
    assert on_curve(point) and mul(8, point) == IDENTITY
    print(f"order {order(point)}: y = {point[1]:#066x}, x is {'odd ' if point[0] & 1 else 'even'} "
          f"encoding {encoding.hex()}")

canonical_ys = sorted({point[1] for point in torsion})
assert len(canonical_ys) == 5
print("\nThe five y values (sign bit clear), little-endian:")
for value in canonical_ys:
    print("[" + ", ".join(f"0x{byte:02x}" for byte in value.to_bytes(32, "little")) + "],")
