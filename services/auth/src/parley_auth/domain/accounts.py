"""Accounts: roles, the password policy, email identity, who becomes admin."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field

from parley_auth.domain.errors import PolicyViolation

PASSWORD_MAX_LENGTH = 256
"""Long enough for any passphrase, short enough that hashing cannot be abused."""

_COMMON = frozenset(
    {
        "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwertyuiop",
        "iloveyou", "11111111", "abc12345", "letmein1", "welcome1", "passw0rd", "admin123", "qwerty123",
    }
)  # fmt: skip


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


def normalize_email(email: str) -> str:
    """The identity of an email address: compatibility forms folded (NFKC: a full-width
    `dev` is `dev`) and case folded, so that one address cannot be registered twice."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()


# Letters of other scripts drawn like Latin ones (Unicode's confusables, the common part).
_LATIN_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁһԛԝвкмнтѵӏ"  # Cyrillic
    "αβεικνορτυχϲϳ",  # Greek
    "aeopcyxijsdhqwbkmhtvlabeikvoptuxcj",
)


def skeleton(email_norm: str) -> str:
    """What a normalised address looks like: look-alike letters of other scripts mapped to
    the Latin letters they imitate (`dev` spelt with a Cyrillic `e` is `dev`)."""
    return email_norm.translate(_LATIN_LOOKALIKES)


def _script(char: str) -> str | None:
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else None


def check_email_scripts(email_norm: str) -> None:
    """Refuse an address whose parts mix letters of several scripts (`dev` spelt with a
    Cyrillic `e` among Latin letters): a real address is written in one."""
    for part in email_norm.replace("@", ".").split("."):
        scripts = {s for s in map(_script, part) if s is not None}
        if len(scripts) > 1:
            raise PolicyViolation("the email address mixes letters of different alphabets", field="email")


def check_password(password: str, *, email: str, min_length: int) -> None:
    if len(password) < min_length:
        raise PolicyViolation(f"the password must have at least {min_length} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise PolicyViolation(f"the password must have at most {PASSWORD_MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 3:
        raise PolicyViolation("the password is too easy to guess")
    if lowered == normalize_email(email) or lowered == normalize_email(email).split("@")[0]:
        raise PolicyViolation("the password must not be the email address")


def initial_role(
    email: str, *, dev: bool, first_account: bool, admin_email: str | None, bootstrapped: bool
) -> Role:
    """Who is admin from registration on.

    Outside dev mode only an explicit bootstrap makes an admin: the operator's bootstrap
    token presented while no admin exists (`bootstrapped`), or `grant-admin` later. Being
    first, or registering an address (unverified, so anyone's), proves nothing. In dev mode
    the first account, or the one named by `PARLEY_ADMIN_EMAIL`, is admin."""
    if bootstrapped:
        return Role.ADMIN
    named = admin_email is not None and normalize_email(admin_email) == normalize_email(email)
    if dev and (first_account or named):
        return Role.ADMIN
    return Role.USER


@dataclass(frozen=True)
class AccountPolicy:
    """The settings the account rules read (`bootstrap` takes them from `Settings`)."""

    password_min_length: int = 8
    dev: bool = False
    admin_email: str | None = None
    bootstrap_token: str | None = field(default=None, repr=False)
    access_ttl_s: int = 900
    refresh_ttl_s: int = 2_592_000
    key_fresh_sign_in_s: float = 300.0
