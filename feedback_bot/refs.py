"""Short references members and staff can read aloud: ``K7Q2``.

A reference is a bijection of the row id, so two items can never share one and no
retry-on-collision dance is needed inside the webhook's transaction. The mapping is
shuffled so consecutive items do not look consecutive; it is not a secret.
"""

from __future__ import annotations

# Crockford's base 32: no I, L, O or U, so nothing is misread as 1, 0 or a rude word.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE = len(ALPHABET)
_MIN_WIDTH = 4
MAX_ID = 2**31 - 1
# Odd multipliers are coprime with every power of 32, which makes the map a permutation.
_MULTIPLIERS = (
    0x5BD1E995,
    0x2545F491,
    0x9E3779B1,
    0x7FEB352D,
    0x846CA68B,
    0x68E31DA5,
    0x1B873593,
    0xCC9E2D51,
)


def _first_id(width: int) -> int:
    """The smallest id whose reference has ``width`` characters."""
    return 1 + sum(_BASE**w for w in range(_MIN_WIDTH, width))


def _offset(salt: int, width: int) -> int:
    return (salt + 1) * 0x3C6EF372 + width


def encode_ref(row_id: int, salt: int = 0) -> str:
    if row_id < 1:
        raise ValueError("references are made from positive ids")
    width = _MIN_WIDTH
    while row_id >= _first_id(width + 1):
        width += 1
    modulus = _BASE**width
    multiplier = _MULTIPLIERS[salt % len(_MULTIPLIERS)]
    shuffled = (multiplier * (row_id - _first_id(width)) + _offset(salt, width)) % modulus
    digits = []
    for _ in range(width):
        shuffled, digit = divmod(shuffled, _BASE)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def decode_ref(ref: str, salt: int = 0) -> int | None:
    """The row id a reference stands for, or None if ``ref`` cannot be one."""
    ref = normalise_ref(ref)
    if len(ref) < _MIN_WIDTH or len(ref) > 7:
        return None
    width = len(ref)
    modulus = _BASE**width
    shuffled = 0
    for char in ref:
        shuffled = shuffled * _BASE + ALPHABET.index(char)
    inverse = pow(_MULTIPLIERS[salt % len(_MULTIPLIERS)], -1, modulus)
    row_id = (inverse * (shuffled - _offset(salt, width))) % modulus + _first_id(width)
    # Ids are 32-bit integers in the database; anything larger was never a reference.
    return row_id if row_id <= MAX_ID else None


def normalise_ref(text: str) -> str:
    """Read a reference as people type it: any case, O for 0, I or L for 1."""
    cleaned = text.strip().upper().replace("O", "0").replace("I", "1").replace("L", "1")
    return "".join(ch for ch in cleaned if ch in ALPHABET)


# A reference as most members get it, for counting what a message costs before it has a
# member: a service's first million items have four characters.
TYPICAL_REF = encode_ref(10_000)
