"""Phone numbers at rest, lookup hashes, passwords and API keys."""

from __future__ import annotations

import pytest

from core.security import (
    DecryptionFailed,
    InvalidPhoneNumber,
    PhoneVault,
    generate_api_key,
    generate_password,
    hash_password,
    mask_phone_number,
    normalise_phone_number,
    verify_api_key,
    verify_password,
)

SECRET_A = "a" * 48
SECRET_B = "b" * 48


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("0060123456789", "+60123456789"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_normalise_phone_number(raw: str, expected: str) -> None:
    assert normalise_phone_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "anonymous", "12", "+62 812 abc", "1" * 20])
def test_not_a_phone_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_phone_number(raw)


def test_encryption_round_trip_hides_the_number() -> None:
    vault = PhoneVault(SECRET_A)
    token = vault.encrypt("0812-3456-7890")
    assert b"81234567890" not in token
    assert vault.decrypt(token) == "+6281234567890"
    assert vault.encrypt("0812-3456-7890") != token, "encryption must be randomised"
    with pytest.raises(DecryptionFailed):
        PhoneVault(SECRET_B).decrypt(token)


def test_lookup_hash_is_stable_normalised_and_keyed() -> None:
    a = PhoneVault(SECRET_A)
    assert a.lookup_hash("0812 3456 7890") == a.lookup_hash("+6281234567890")
    assert a.lookup_hash("081234567890") != a.lookup_hash("081234567891")
    assert PhoneVault(SECRET_B).lookup_hash("081234567890") != a.lookup_hash("081234567890")


def test_mask() -> None:
    assert mask_phone_number("+6281234567890") == "+62 ••• ••• 7890"


def test_passwords() -> None:
    password = generate_password()
    assert len(password) == 23
    stored = hash_password(password)
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, password)
    assert not verify_password(stored, password + "x")
    assert not verify_password("not-a-hash", password)
    with pytest.raises(ValueError, match="10 characters"):
        hash_password("short")


def test_api_keys() -> None:
    key, prefix, stored = generate_api_key()
    assert key.startswith(prefix) and key not in stored
    assert verify_api_key(stored, key)
    assert not verify_api_key(stored, key[:-1])
