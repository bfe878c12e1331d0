"""AGI responses and environment, parsed without sockets."""

from __future__ import annotations

import pytest

from ivr.errors import AgiProtocolError, CallHungUp
from ivr.fastagi import (
    RecordEnd,
    parse_agi_environment,
    parse_agi_response,
    parse_record_result,
    quote,
)


@pytest.mark.parametrize(
    ("line", "code", "value", "data", "endpos"),
    [
        ("200 result=1", 200, "1", "", None),
        ("200 result=0 (timeout)", 200, "0", "timeout", None),
        ("200 result= (timeout)", 200, "", "timeout", None),
        ("200 result=0123", 200, "0123", "", None),
        ("200 result=12 (timeout)", 200, "12", "timeout", None),
        ("200 result=-1", 200, "-1", "", None),
        ("200 result=1 (speech) endpos=1234", 200, "1", "speech", 1234),
        ("200 result=49 endpos=8000", 200, "49", "", 8000),
        ("200 result=35 (dtmf) endpos=36000", 200, "35", "dtmf", 36000),
        ("200 result=-1 (hangup) endpos=12000", 200, "-1", "hangup", 12000),
        ("200 result=1 (value (with) parens)", 200, "1", "value (with) parens", None),
        ("200 result=1 ()", 200, "1", "", None),
        ("510 Invalid or unknown command", 510, "", "", None),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511, "", "", None),
        ("520-Invalid command syntax.  Proper usage follows:", 520, "", "", None),
        ("200 result=0\r\n", 200, "0", "", None),
    ],
)
def test_responses(line: str, code: int, value: str, data: str, endpos: int | None) -> None:
    result = parse_agi_response(line)
    assert (result.code, result.value, result.data, result.endpos) == (code, value, data, endpos)


def test_result_as_integer() -> None:
    assert parse_agi_response("200 result=49").result == 49
    assert parse_agi_response("200 result= (timeout)").result is None
    assert parse_agi_response("200 result=-1").ok is False
    assert parse_agi_response("200 result=0").ok is True


def test_hangup_line() -> None:
    with pytest.raises(CallHungUp):
        parse_agi_response("HANGUP")


@pytest.mark.parametrize(
    "line", ["", "hello", "20 result=1", "200 res=1", "agi_callerid: +6281234567890"]
)
def test_garbage(line: str) -> None:
    with pytest.raises(AgiProtocolError) as raised:
        parse_agi_response(line)
    assert "81234567890" not in str(raised.value)


def test_environment() -> None:
    env = parse_agi_environment(
        ["agi_request: agi://127.0.0.1/ivr", "agi_uniqueid: 1700000000.1", "agi_callerid: 0812"]
    )
    assert env == {"request": "agi://127.0.0.1/ivr", "uniqueid": "1700000000.1", "callerid": "0812"}


@pytest.mark.parametrize("line", ["callerid 081234567890", "x_callerid: 081234567890"])
def test_bad_environment_never_quotes_the_line(line: str) -> None:
    with pytest.raises(AgiProtocolError) as raised:
        parse_agi_environment([line])
    assert "81234567890" not in str(raised.value)


@pytest.mark.parametrize(
    ("line", "end", "digit", "endpos"),
    [
        ("200 result=35 (dtmf) endpos=36000", RecordEnd.dtmf, "#", 36000),
        ("200 result=0 (timeout) endpos=40000", RecordEnd.timeout, "", 40000),
        ("200 result=-1 (hangup) endpos=12000", RecordEnd.hangup, "", 12000),
        ("200 result=-1 endpos=800", RecordEnd.hangup, "", 800),
        ("200 result=-1 (writefile)", RecordEnd.error, "", 0),
        ("200 result=0 (randomerror) endpos=5", RecordEnd.error, "", 5),
    ],
)
def test_record_results(line: str, end: RecordEnd, digit: str, endpos: int) -> None:
    recorded = parse_record_result(parse_agi_response(line))
    assert (recorded.end, recorded.digit, recorded.endpos) == (end, digit, endpos)


@pytest.mark.parametrize("bad", ['a"b', "a\nHANGUP", "a\r", "a\\b"])
def test_quote_refuses_injection(bad: str) -> None:
    with pytest.raises(ValueError, match="may not contain"):
        quote(bad)
    assert quote("#*0123") == '"#*0123"'
