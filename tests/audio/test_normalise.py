"""Indonesian text normalisation for the TTS voice."""

from __future__ import annotations

import pytest

from audio.normalise import digits_words, normalise_id, number_words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "nol"),
        (7, "tujuh"),
        (10, "sepuluh"),
        (11, "sebelas"),
        (12, "dua belas"),
        (18, "delapan belas"),
        (20, "dua puluh"),
        (45, "empat puluh lima"),
        (100, "seratus"),
        (101, "seratus satu"),
        (250, "dua ratus lima puluh"),
        (1000, "seribu"),
        (1500, "seribu lima ratus"),
        (2017, "dua ribu tujuh belas"),
        (2026, "dua ribu dua puluh enam"),
        (11000, "sebelas ribu"),
        (150000, "seratus lima puluh ribu"),
        (1_000_000, "satu juta"),
        (5_000_000, "lima juta"),
        (12_500_000, "dua belas juta lima ratus ribu"),
        (2_000_000_000, "dua miliar"),
        (-3, "minus tiga"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert number_words(n) == words


def test_digits() -> None:
    assert digits_words("+62 812-30") == "plus enam dua delapan satu dua tiga nol"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Biaya Rp 5.000.000 tidak boleh ditagih.", "Biaya lima juta rupiah tidak boleh ditagih."),
        ("Rp150.000,- saja", "seratus lima puluh ribu rupiah saja"),
        ("rp 2.500.000,00", "dua juta lima ratus ribu rupiah"),
        (
            "Hubungi 0812-3456-7890 sekarang",
            "Hubungi nol delapan satu dua tiga empat lima enam tujuh delapan sembilan nol sekarang",
        ),
        (
            "Nomor +62 812 3456 7890.",
            "Nomor plus enam dua delapan satu dua tiga empat lima enam tujuh delapan sembilan nol.",
        ),
        (
            "Undang-Undang Nomor 18 Tahun 2017",
            "Undang-Undang Nomor delapan belas Tahun dua ribu tujuh belas",
        ),
        (
            "Pada 17/08/2026 kantor tutup",
            "Pada tujuh belas Agustus dua ribu dua puluh enam kantor tutup",
        ),
        ("Siaran pukul 19.30 WITA", "Siaran pukul sembilan belas lewat tiga puluh wita"),
        ("Mulai 08.00 WIB", "Mulai delapan we i be"),
        ("Hubungi KBRI atau BP2MI", "Hubungi ka be er i atau be pe dua em i"),
        ("Cek izin P3MI dan KTP", "Cek izin pe tiga em i dan ka te pe"),
        ("Pos DESBUMI di balai desa", "Pos desbumi di balai desa"),
        ("Umur 18 tahun, bukan 16.", "Umur delapan belas tahun, bukan enam belas."),
        ("Tidak ada angka di sini.", "Tidak ada angka di sini."),
    ],
)
def test_normalise(text: str, spoken: str) -> None:
    assert normalise_id(text) == spoken


def test_demo_content_leaves_no_digits_or_capital_acronyms() -> None:
    """Every demo text must come out speakable: no digits left for espeak to misread."""
    import re
    from importlib import resources

    import yaml

    items = yaml.safe_load(resources.files("desbumi.demo").joinpath("content_id.yaml").read_text())[
        "items"
    ]
    for item in items:
        spoken = normalise_id(item["text"])
        assert not re.search(r"\d", spoken), (item["slug"], spoken)
        assert not re.search(r"\b[A-Z]{2,}\b", spoken), (
            item["slug"],
            re.findall(r"\b[A-Z]{2,}\b", spoken),
        )
