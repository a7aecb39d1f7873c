"""Case keys: passphrases of random words from the EFF long word list.

7 words from 7,772 give log2(7772**7) = 90.5 bits. Words are drawn by
xkcdpass, which uses the operating system's secure random source.
"""

from __future__ import annotations

import math
from functools import lru_cache

from xkcdpass import xkcd_password

CASE_KEY_WORDS = 7


@lru_cache(maxsize=1)
def _wordlist() -> tuple[str, ...]:
    path = xkcd_password.locate_wordfile("eff-long")
    words = xkcd_password.generate_wordlist(wordfile=path, min_length=3, max_length=9)
    # Typed back, "t-shirt" folds to two words (hyphens are separators), so a key holding
    # it would not be found by the check that keeps keys out of messages; leave such out.
    return tuple(w for w in words if w.isalpha())


def random_words(count: int) -> list[str]:
    # The tuple itself: xkcdpass only picks from it (a list copy of 7,000 words cost more
    # than the rest of making a key).
    return xkcd_password.generate_xkcdpassword(
        _wordlist(), numwords=count, delimiter=" ", random_delimiters=False
    ).split(" ")


def new_case_key() -> str:
    """Return a fresh case key, words separated by single spaces."""
    return " ".join(random_words(CASE_KEY_WORDS))


def case_key_bits() -> float:
    return CASE_KEY_WORDS * math.log2(len(_wordlist()))
