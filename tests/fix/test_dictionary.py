"""Dictionary: names, types, version-specific required tags, enums, group definitions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from hft.fix import dictionary as d
from hft.fix.parser import parse_one
from hft.fix.spec import SpecError, load_standard_spec, parse_quickfix_xml
from hft.fix.validation import DataDictionary


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
        assert {37, 17, 150, 39, 54, 151, 14, 6} <= set(d.required_tags(v, "8"))
    # Symbol: required in 4.2; in 4.4 it sits in the Instrument component, optional in QuickFIX's FIX44.xml
    assert 55 in d.required_tags("FIX.4.2", "8") and 55 not in d.required_tags("FIX.4.4", "8")
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


# ------------------------------------------------------------------ the complete dictionary, XML loading


def test_complete_dictionaries_shipped() -> None:
    for v, nfields, nmsgs in (("FIX.4.2", 405, 46), ("FIX.4.4", 912, 93)):
        spec = load_standard_spec(v)
        assert spec["version"] == v and len(spec["fields"]) == nfields and len(spec["messages"]) == nmsgs
        assert any("quickfixengine.org" in n for n in spec["notice"])
    # 35=d (SecurityDefinition) is known now, so a NoXXX=0 group in it is not an Invalid MsgType
    assert d.msg_type_name(b"d") == "SecurityDefinition" and d.required_tags("FIX.4.2", b"d") is not None
    assert d.field_name(146) == "NoRelatedSym" and d.field_tag("IDSource") == 22  # a 4.2 name still resolves
    assert (Path(d.__file__).parent / "spec" / "NOTICE.quickfix.txt").read_text().startswith(
        "This product includes software developed by quickfixengine.org (http://www.quickfixengine.org/).")


def test_module_tables_agree_with_the_validator() -> None:
    for v in ("FIX.4.2", "FIX.4.4"):
        dd = DataDictionary.standard(v)
        assert DataDictionary.standard(v) is dd  # cached
        for mt in dd.msg_types():
            assert d.required_tags(v, mt) == dd.required_tags(mt), (v, mt)
        for tag, (name, typ) in dd.fields.items():
            assert d.field_name(tag) is not None and d.field_type(tag) is not None
            if v == "FIX.4.4":  # the version-free tables take 4.4's names and types (4.2: INT for SEQNUM)
                assert (d.field_name(tag), d.field_type(tag)) == (name, typ)
    assert d.GROUP_DELIMITERS[146] == 55 and 336 in d.GROUP_MEMBERS[386]


def _quickfix_share() -> Path:
    try:
        import quickfix
    except ImportError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"quickfix is not importable under CI ({e})", pytrace=False)
        pytest.skip("quickfix not installed (bash scripts/install_quickfix.sh .venv/bin/python)")
    for base in (Path(sys.prefix), Path(quickfix.__file__).resolve().parents[3]):
        if (base / "share" / "quickfix" / "FIX42.xml").exists():
            return base / "share" / "quickfix"
    pytest.fail("quickfix is installed but share/quickfix/FIX42.xml was not found")


@pytest.mark.parametrize("version", ["FIX.4.2", "FIX.4.4"])
def test_real_quickfix_xml_loads_and_matches_the_shipped_tables(version: str) -> None:
    xml = _quickfix_share() / f"{version.replace('.', '')}.xml"
    dd = DataDictionary.load(xml)
    assert dd.begin_string == version and dd.is_msg_type(b"d") and not dd.is_msg_type(b"*")
    shipped = {k: v for k, v in load_standard_spec(version).items() if k != "notice"}
    assert json.loads(json.dumps(parse_quickfix_xml(xml))) == shipped  # regenerate: scripts/gen_fix_spec.py


SMALL_XML = b"""<fix type='FIX' major='4' minor='2'>
 <header>
  <field name='BeginString' required='Y'/><field name='BodyLength' required='Y'/>
  <field name='MsgType' required='Y'/><field name='SenderCompID' required='Y'/>
  <field name='TargetCompID' required='Y'/><field name='MsgSeqNum' required='Y'/>
  <field name='SendingTime' required='Y'/>
 </header>
 <trailer><field name='CheckSum' required='Y'/></trailer>
 <messages>
  <message name='Heartbeat' msgtype='0' msgcat='admin'><field name='TestReqID' required='N'/></message>
  <message name='Quote' msgtype='S' msgcat='app'>
   <field name='QuoteID' required='Y'/>
   <component name='Inst' required='Y'/>
   <group name='NoLegs' required='Y'>
    <field name='LegSymbol' required='Y'/><field name='LegQty' required='N'/>
   </group>
  </message>
 </messages>
 <components>
  <component name='Inst'><field name='Symbol' required='Y'/><field name='Side' required='N'/></component>
 </components>
 <fields>
  <field number='8' name='BeginString' type='STRING'/><field number='9' name='BodyLength' type='LENGTH'/>
  <field number='35' name='MsgType' type='STRING'/><field number='49' name='SenderCompID' type='STRING'/>
  <field number='56' name='TargetCompID' type='STRING'/><field number='34' name='MsgSeqNum' type='SEQNUM'/>
  <field number='52' name='SendingTime' type='UTCTIMESTAMP'/>
  <field number='10' name='CheckSum' type='STRING'/>
  <field number='112' name='TestReqID' type='STRING'/><field number='117' name='QuoteID' type='STRING'/>
  <field number='55' name='Symbol' type='STRING'/>
  <field number='54' name='Side' type='CHAR'>
   <value enum='1' description='BUY'/><value enum='2' description='SELL'/>
  </field>
  <field number='555' name='NoLegs' type='NUMINGROUP'/><field number='600' name='LegSymbol' type='STRING'/>
  <field number='687' name='LegQty' type='QTY'/>
 </fields>
</fix>
"""


def test_small_hand_written_xml(tmp_path: Path) -> None:
    p = tmp_path / "small.xml"
    p.write_bytes(SMALL_XML)
    dd = DataDictionary.load(p)
    assert dd.begin_string == "FIX.4.2" and dd.is_msg_type(b"S") and not dd.is_msg_type(b"D")
    assert dd.is_app_message(b"S") and not dd.is_app_message(b"0")
    assert dd.required_tags(b"S") == (55, 117, 555)  # component fields and the group count, ascending
    assert dd.groups(b"S") == {555: (600, (600, 687))}

    def frame(body: str) -> bytes:
        s = ("8=FIX.4.2|" + f"9={len(body)}|" + body).replace("|", "\x01")
        return (s + f"10={sum(s.encode()) % 256:03d}\x01").encode()

    hdr = "35=S|34=2|49=A|52=20240101-00:00:00|56=B|"
    ok = parse_one(frame(hdr + "117=q|55=X|54=2|555=2|600=L1|687=5|600=L2|"))
    assert dd.validate(ok) is None
    r = dd.validate(parse_one(frame(hdr + "117=q|55=X|54=3|555=1|600=L1|")))
    assert r is not None and (r.code, r.ref_tag) == (5, 54)
    r = dd.validate(parse_one(frame(hdr + "117=q|55=X|555=2|600=L1|687=5|687=1|")))
    assert r is not None and (r.code, r.ref_tag) == (1, 600)  # the second entry (started by 687) lacks 600


@pytest.mark.parametrize(
    ("xml", "where"),
    [
        (b"<fix major='4' minor='2'><fields><field number='1' name='A' type='STRING'/>\n</fields>\n<messages>"
         b"<message msgtype='0' name='H'><field name='B' required='Y'/></message></messages><header/>"
         b"<trailer/></fix>", "line 3: <field name='B'>: field B is not defined"),
        (b"<fix major='4' minor='2'>\n<fields>\n<field name='A' type='STRING'/></fields><header/><trailer/>"
         b"<messages/></fix>",
         "line 3: <field name='A'>: <field> A needs a positive integer number"),
        (b"<fix major='4' minor='2'>\n<fields><field number='1' name='A' type='STRING'>\n</fields></fix>",
         "line 3, column 2: not well-formed XML: mismatched tag"),
        (b"<fix major='4' minor='2'><fields><field number='1' name='A' type='STRING'/></fields><header/>"
         b"<trailer/>\n<messages><message msgtype='0' name='H'>\n<component name='Nope'/></message>"
         b"</messages></fix>", "line 3: <component name='Nope'>: component Nope is not defined"),
        (b"<fixx/>", "line 1: <fixx>: the root element must be <fix>"),
    ],
)
def test_malformed_xml_names_file_line_and_element(tmp_path: Path, xml: bytes, where: str) -> None:
    p = tmp_path / "bad.xml"
    p.write_bytes(xml)
    with pytest.raises(SpecError) as ei:
        DataDictionary.load(p)
    assert str(ei.value).startswith(f"{p}: ") and where in str(ei.value), str(ei.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        DataDictionary.load(tmp_path / "nope.xml")
    with pytest.raises(ValueError, match=r"no shipped data dictionary for 'FIX\.4\.3'"):
        DataDictionary.standard("FIX.4.3")


def test_every_quickfix_xml_loads() -> None:
    """QuickFIX's other dictionaries (FIX 4.0 to 5.0 SP2, FIXT 1.1) load too: versions, fields, messages."""
    share = _quickfix_share()
    seen = {}
    for p in sorted(share.glob("FIX*.xml")):
        dd = DataDictionary.load(p)
        seen[p.stem] = (dd.begin_string, len(dd.msg_types()))
        assert len(dd.fields) > 50 and dd.msg_types()
    assert seen["FIX40"][0] == "FIX.4.0" and seen["FIXT11"][0] == "FIXT.1.1"
    assert seen["FIX44"] == ("FIX.4.4", 93)
