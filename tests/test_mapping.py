"""Source mappings: checked when read, so a typo fails before any row is touched."""

from __future__ import annotations

import pytest

from shadow.errors import InvalidConfig
from shadow.mapping import parse_mapping


def test_a_full_mapping_is_parsed() -> None:
    m = parse_mapping(
        '[columns]\ncase_id = "AssetWeek"\n[labels]\ninspect = ["Y", 1]\n'
        '[timestamps]\ntimezone = "Europe/Berlin"\nformats = ["%d/%m/%Y %H:%M"]\n'
        '[csv]\ndelimiter = ";"\nencoding = "latin1"\n'
    )
    assert m.columns == {"case_id": "AssetWeek"}
    assert m.labels == {"inspect": ("Y", "1")}
    assert (m.timezone, m.formats, m.delimiter, m.encoding) == (
        "Europe/Berlin",
        ("%d/%m/%Y %H:%M",),
        ";",
        "latin-1",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[colums]\na = 'b'\n", "m.toml: unknown table [colums] (did you mean [columns]?)"),
        (
            "[labels]\ninspect = ['Y']\nno_inspect = ['y']\n",
            "m.toml: [labels] spelling 'y' maps to both 'inspect' and 'no_inspect'",
        ),
        ("[timestamps]\ntimezone = 'Mars/Base'\n", "m.toml: unknown timezone 'Mars/Base'"),
        (
            "[timestamps]\nformats = ['dd/mm/yyyy']\n",
            'm.toml: [timestamps] formats must be strptime patterns, e.g. "%d/%m/%Y %H:%M"',
        ),
        (  # found by tests/test_fuzz.py: 'int' object is not iterable, out of `shadow ingest`
            "[timestamps]\nformats = 0\n",
            'm.toml: [timestamps] formats must be strptime patterns, e.g. "%d/%m/%Y %H:%M"',
        ),
        (
            "[csv]\nencoding = 'ebcdic'\n",
            "m.toml: [csv] encoding 'ebcdic' is not one of utf-8, utf-16, latin-1",
        ),
        ("[csv]\ndelimiter = ';;'\n", 'm.toml: [csv] delimiter must be one character, e.g. ";"'),
        (
            "[columns]\ncase_id = 'A'\ndecided_by = 'A'\n",
            "m.toml: [columns] maps source column 'A' twice",
        ),
        (
            "[columns",
            "m.toml is not valid TOML: Expected ']' at the end of a table declaration (at end of document)",
        ),
    ],
)
def test_bad_mappings_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidConfig) as e:
        parse_mapping(text, "m.toml")
    assert str(e.value) == message


def test_a_new_mapping_text_is_a_new_digest() -> None:
    assert parse_mapping("").digest != parse_mapping("[labels]\ninspect = ['Y']\n").digest
