"""Queue order keys: strings whose byte order is the call order within a priority class.

A check-in's key is its HLC text, so arrival order is the hybrid-logical-clock order. A missed
patient goes back in line after N others by taking a key *between* two existing keys
(fractional indexing), so no other row is ever rewritten: the cost of a missed call does not
grow with the queue.
"""

from __future__ import annotations

# Every printable ASCII character but space, in byte order. "!" is the zero digit: a key never
# ends with it, so there is always room for another key between any two.
_DIGITS = "".join(chr(c) for c in range(0x21, 0x7F))
_ZERO = _DIGITS[0]


def key_between(a: str, b: str | None) -> str:
    """A key k with a < k < b (b None: k > a). Neither a nor b may end with "!"."""
    if b is not None and not a < b:
        raise ValueError(f"key_between needs a < b, got {a!r} >= {b!r}")
    if a.endswith(_ZERO) or (b is not None and b.endswith(_ZERO)):
        raise ValueError("order keys must not end with '!'")
    return _midpoint(a, b)


def _midpoint(a: str, b: str | None) -> str:
    # After Greenspan's fractional indexing: strip the common prefix (a padded with zeros),
    # then pick a digit between the first differing digits, or recurse one digit deeper.
    prefix = ""
    if b is not None:
        n = 0
        while (a[n] if n < len(a) else _ZERO) == b[n]:
            n += 1
        prefix, a, b = b[:n], a[n:], b[n:]
    digit_a = _DIGITS.index(a[0]) if a else 0
    digit_b = _DIGITS.index(b[0]) if b is not None else len(_DIGITS)
    if digit_b - digit_a > 1:
        return prefix + _DIGITS[(digit_a + digit_b + 1) // 2]
    if b is not None and len(b) > 1:
        return prefix + b[0]
    return prefix + _DIGITS[digit_a] + _midpoint(a[1:], None)
