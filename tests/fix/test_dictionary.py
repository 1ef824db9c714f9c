"""Dictionary: names, types, version-specific required tags, enums, group definitions."""

from __future__ import annotations

from hft.fix import dictionary as d


def test_names_both_ways() -> None:
    assert d.field_name(35) == "MsgType" and d.field_tag("MDEntryPx") == 270
    assert d.field_type(270) == "PRICE" and d.field_type(52) == "UTCTIMESTAMP"
    assert d.field_type(268) == "NUMINGROUP"
    assert d.msg_type_name(b"X") == "MarketDataIncrementalRefresh" and d.msg_type_code("Logon") == b"A"


def test_all_issue_message_types_present_for_both_versions() -> None:
    codes = [b"A", b"0", b"1", b"2", b"3", b"4", b"5", b"D", b"F", b"G", b"8", b"9", b"j", b"V", b"W", b"X",
             b"Y"]
    for v in ("FIX.4.2", "FIX.4.4"):
        for c in codes:
            req = d.required_tags(v, c)
            assert req is not None, (v, c)
            for t in req:
                assert d.field_name(t) is not None, t
    assert d.required_tags("FIX.4.2", b"ZZ") is None


def test_version_differences() -> None:
    # ExecTransType (20) is required in 4.2 ExecutionReport, gone in 4.4
    assert 20 in d.required_tags("FIX.4.2", "8")
    assert 20 not in d.required_tags("FIX.4.4", "8")
    for v in ("FIX.4.2", "FIX.4.4"):
        assert {37, 17, 150, 39, 55, 54, 151, 14, 6} <= set(d.required_tags(v, "8"))
    # HandlInst (21) required in 4.2 NewOrderSingle only
    assert 21 in d.required_tags("FIX.4.2", "D") and 21 not in d.required_tags("FIX.4.4", "D")
    assert d.required_tags(b"FIX.4.4", b"A") == (98, 108)
    assert d.required_tags("FIX.4.2", "2") == (7, 16)


def test_enums() -> None:
    assert d.enum_name(39, b"2") == "FILLED" and d.enum_name(150, b"F") == "TRADE"
    assert d.enum_name(269, b"1") == "OFFER" and d.enum_name(279, b"2") == "DELETE"
    assert d.enum_name(373, b"1") == "REQUIRED_TAG_MISSING"
    assert d.enum_name(373, b"6").startswith("INCORRECT_DATA")
    assert d.enum_name(54, b"9x") is None and d.enum_name(9999, b"1") is None


def test_groups_include_nested_members() -> None:
    assert d.GROUP_DELIMITERS[268] == 279 and d.GROUP_DELIMITERS[453] == 448
    assert {279, 269, 270, 271, 290} <= d.GROUP_MEMBERS[268]
    assert {448, 447, 452, 802, 523} <= d.GROUP_MEMBERS[268]  # nested parties reach through
    assert b"270" in d.GROUPS[268][1]
