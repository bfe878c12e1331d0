"""Security primitives: phone numbers encrypted at rest, keyed lookup hashes, passwords, API keys.

All keys derive from the one secret key (``desbumi init`` writes it into the data
directory) with HKDF and a distinct label each, so leaking a lookup hash reveals nothing
about the encryption key. Losing the secret key makes stored phone numbers unreadable:
back it up with the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import CoreError


class InvalidPhoneNumber(CoreError):
    """The text is not a phone number we can call back."""


class DecryptionFailed(CoreError):
    """Stored ciphertext does not open with this secret key (wrong or rotated key?)."""


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        secret.encode("utf-8")
    )


def normalise_phone_number(raw: str, country_code: str = "62") -> str:
    """Return ``raw`` in E.164 form (``+62812...``); Indonesian ``08..`` numbers get +62.

    Raises :class:`InvalidPhoneNumber` for text that cannot be a phone number.
    """
    text = raw.strip()
    digits = re.sub(r"[\s\-().]", "", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("+"):
        body = digits[1:]
    elif digits.startswith("0"):
        body = country_code + digits[1:]
    elif digits.startswith(country_code):
        body = digits
    else:
        body = digits
    if not body.isdigit() or not 7 <= len(body) <= 15:
        raise InvalidPhoneNumber("not a phone number (7 to 15 digits expected)")
    return "+" + body


def mask_phone_number(number: str) -> str:
    """``+6281234567890`` -> ``+62 ••• ••• 7890``: enough to tell callers apart on screen."""
    return f"{number[:3]} ••• ••• {number[-4:]}" if len(number) > 7 else "•••"


class PhoneVault:
    """Encrypts phone numbers (Fernet: AES-128-CBC + HMAC) and makes keyed lookup hashes."""

    def __init__(self, secret: str) -> None:
        key = base64.urlsafe_b64encode(_derive(secret, b"desbumi phone encryption v1"))
        self._fernet = Fernet(key)
        self._hash_key = _derive(secret, b"desbumi phone lookup v1")

    def encrypt(self, number: str) -> bytes:
        return self._fernet.encrypt(normalise_phone_number(number).encode("ascii"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("ascii")
        except InvalidToken:
            raise DecryptionFailed("phone number does not decrypt with this secret key") from None

    def lookup_hash(self, number: str) -> str:
        """A keyed hash of the normalised number: equal numbers, equal hashes."""
        normalised = normalise_phone_number(number).encode("ascii")
        return hmac.new(self._hash_key, normalised, hashlib.sha256).hexdigest()


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A password that is easy to read aloud over the phone: four groups of letters/digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def generate_api_key() -> tuple[str, str, str]:
    """A new station API key as ``(key, prefix, hash)``; only prefix and hash are stored."""
    key = "dsb_" + secrets.token_urlsafe(32)
    return key, key[:12], hash_api_key(key)


def hash_api_key(key: str) -> str:
    # API keys are long random strings, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def verify_api_key(stored_hash: str, key: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_api_key(key))
