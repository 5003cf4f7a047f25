"""Signing keys (Ed25519, stored in the database so every replica signs and
serves the same set), the JWKS, and access tokens: issued and verified here.

Rotation (`python -m parley_auth rotate-key`) adds a key and retires the
previous one: it stops signing at once and stays in the JWKS for one
access-token lifetime, so tokens it signed verify until they expire.

Private keys are stored sealed (AES-GCM under a key derived from
`PARLEY_CATALOG_SECRET` for this purpose, bound to the key id) when the ring
has a sealer; rows stored plain before are sealed when the ring loads them.
Without the secret they stay plain PEM (a warning says so)."""

from __future__ import annotations

import base64
import dataclasses
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from parley_auth.adapters.orm import SigningKeyRow
from parley_auth.adapters.repository import Database, Repository
from parley_auth.domain.errors import InvalidToken
from parley_auth.domain.model import AccessClaims
from parley_platform.sealing import SIGNING_KEYS, Sealer, SealError

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime
    retired_at: datetime | None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


_PEM_START = "-----BEGIN"


def key_sealer(catalog_sealer: Sealer | None) -> Sealer | None:
    """The sealer of private signing keys: the catalogue's secret, its own derived key."""
    return catalog_sealer.for_purpose(SIGNING_KEYS) if catalog_sealer is not None else None


def new_signing_key_row(now: datetime, *, sealer: Sealer | None = None) -> SigningKeyRow:
    """A new key; sealed when `sealer` (see `key_sealer`) is given."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii")
    kid = f"{now:%Y%m%d}-{secrets.token_hex(6)}"
    stored = sealer.seal(pem, bound_to=kid) if sealer is not None else pem
    return SigningKeyRow(kid=kid, private_pem=stored, created_at=now, retired_at=None)


def _pem(row: SigningKeyRow, sealer: Sealer | None) -> str:
    if row.private_pem.startswith(_PEM_START):
        return row.private_pem
    if sealer is None:
        raise RuntimeError(
            f"signing key {row.kid} is stored sealed and PARLEY_CATALOG_SECRET is not set: "
            "set the secret it was sealed with"
        )
    return sealer.open(row.private_pem, bound_to=row.kid)


def _load(row: SigningKeyRow, sealer: Sealer | None) -> SigningKey:
    key = load_pem_private_key(_pem(row, sealer).encode("ascii"), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"signing key {row.kid} is not Ed25519")
    return SigningKey(row.kid, key, row.created_at, row.retired_at)


class KeyRing:
    """The keys this replica signs with and serves; `load` rereads them."""

    def __init__(
        self, *, issuer: str, audience: str, access_ttl_s: int, sealer: Sealer | None = None
    ) -> None:
        """`sealer`: the catalogue's (`Auth.sealer`); None keeps private keys plain."""
        self.issuer = issuer
        self.audience = audience
        self.access_ttl_s = access_ttl_s
        self._sealer = key_sealer(sealer)
        self._warned = False
        self._unopened: set[str] = set()
        self._keys: list[SigningKey] = []

    async def reload(self, db: Database, now: datetime, *, create: bool = True) -> None:
        """`load` in a transaction of its own."""
        async with db.transaction() as repo:
            await self.load(repo, now, create=create)

    async def load(self, repo: Repository, now: datetime, *, create: bool = True) -> None:
        """Reread the keys (creating one when none signs and `create`), sealing rows still
        stored plain."""
        rows = list(await repo.signing_keys())
        keys = self._open(rows)
        if create and not any(key.retired_at is None for key in keys):
            row = new_signing_key_row(now, sealer=self._sealer)
            await repo.add_signing_key(row, now)
            log.info("created signing key %s", row.kid)
            rows = list(await repo.signing_keys())
            keys = self._open(rows)
        self._keys = keys
        await self._seal_plain(repo, rows)

    def _open(self, rows: list[SigningKeyRow]) -> list[SigningKey]:
        """The keys that open here. One sealed with another secret (or none set) is left out,
        said once: the service signs with a new key rather than not at all."""
        known = {key.kid: key for key in self._keys}  # opened before: not again every reload
        keys: list[SigningKey] = []
        for row in rows:
            if (key := known.get(row.kid)) is not None:
                keys.append(dataclasses.replace(key, retired_at=row.retired_at))
                continue
            try:
                keys.append(_load(row, self._sealer))
            except (SealError, RuntimeError) as exc:
                if row.kid not in self._unopened:
                    log.error("signing key %s is left out: %s", row.kid, exc)
                    self._unopened.add(row.kid)
        return keys

    async def _seal_plain(self, repo: Repository, rows: list[SigningKeyRow]) -> None:
        plain = [row for row in rows if row.private_pem.startswith(_PEM_START)]
        if not plain:
            return
        if self._sealer is None:
            if not self._warned:
                log.warning("private signing keys are stored unencrypted: set PARLEY_CATALOG_SECRET")
                self._warned = True
            return
        for row in plain:
            row.private_pem = self._sealer.seal(row.private_pem, bound_to=row.kid)
        await repo.session.flush()
        log.info("sealed %d signing key(s) stored plain: %s", len(plain), ", ".join(r.kid for r in plain))

    def valid(self, now: datetime) -> list[SigningKey]:
        """Every key a token still in its lifetime may be signed by."""
        overlap = timedelta(seconds=self.access_ttl_s + 60)
        return [k for k in self._keys if k.retired_at is None or k.retired_at + overlap > now]

    def active(self) -> SigningKey:
        current = [k for k in self._keys if k.retired_at is None]
        if not current:
            raise RuntimeError("no signing key: run `python -m parley_auth rotate-key` or start the service")
        return max(current, key=lambda k: k.created_at)

    def jwks(self, now: datetime) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.valid(now)]}

    def issue(self, *, sub: str, role: str, now: datetime, sid: str | None = None) -> str:
        key = self.active()
        seconds = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "role": role,
            # To the microsecond (a NumericDate may have a fraction): a token issued right
            # after a password change must count, one issued just before must not.
            "iat": now.timestamp(),
            "nbf": seconds,
            "exp": seconds + self.access_ttl_s,
            "jti": uuid.uuid4().hex,
        }
        if sid is not None:
            claims["sid"] = sid
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str, now: datetime) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm not accepted")
        kid = header.get("kid")
        key = next((k for k in self.valid(now) if k.kid == kid), None)
        if key is None:
            raise InvalidToken("token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key=key.public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token rejected: {exc}") from exc
        sub, role, jti, exp, sid = (claims.get(k) for k in ("sub", "role", "jti", "exp", "sid"))
        if not isinstance(sub, str) or not isinstance(jti, str) or not isinstance(exp, int):
            raise InvalidToken("token claims malformed")
        return AccessClaims(
            sub=sub,
            role=role if isinstance(role, str) else "user",
            jti=jti,
            exp=exp,
            sid=sid if isinstance(sid, str) else None,
            iat=float(claims["iat"]),  # required, a number: PyJWT checked it
        )
