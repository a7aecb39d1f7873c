"""Case references staff can read aloud: a school prefix and random letters."""

from __future__ import annotations

import secrets

#: Crockford's base 32 without the easily confused I, L, O, U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 6


def new_reference(school_slug: str) -> str:
    prefix = "".join(c for c in school_slug.upper() if c.isalnum())[:3] or "SR"
    return prefix + "-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_reference(value: str) -> str:
    return value.strip().upper().replace(" ", "")
