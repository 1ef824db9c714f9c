"""The FIX data dictionary the stack needs: tags, types, message types, required fields, enums, groups.

Covers FIX 4.2 (what IBKR's CTCI speaks) and FIX 4.4, for the session messages (A 0 1 2 3 4 5) and the
application messages the trading engine, the simulator and IBKR use (D F G 8 9 j V W X Y). Required
tags are taken from the FIX 4.2 / 4.4 specifications (as in the QuickFIX FIX42.xml / FIX44.xml data
dictionaries): e.g. ExecutionReport requires ExecTransType (20) in 4.2 but not in 4.4, and
NewOrderSingle requires HandlInst (21) only in 4.2.

Pure data plus small lookup helpers; used by the decoder (``hft fix decode``), the session layer's
validation (Reject 373 reasons) and the simulator gateway.
"""

from __future__ import annotations

from typing import Final

# ----------------------------------------------------------------------------------------------- fields
# tag: (name, type). Types follow the FIX spec's names.
FIELDS: Final[dict[int, tuple[str, str]]] = {
    1: ("Account", "STRING"),
    6: ("AvgPx", "PRICE"),
    7: ("BeginSeqNo", "SEQNUM"),
    8: ("BeginString", "STRING"),
    9: ("BodyLength", "LENGTH"),
    10: ("CheckSum", "STRING"),
    11: ("ClOrdID", "STRING"),
    14: ("CumQty", "QTY"),
    15: ("Currency", "CURRENCY"),
    16: ("EndSeqNo", "SEQNUM"),
    17: ("ExecID", "STRING"),
    18: ("ExecInst", "MULTIPLEVALUESTRING"),
    19: ("ExecRefID", "STRING"),
    20: ("ExecTransType", "CHAR"),
    21: ("HandlInst", "CHAR"),
    22: ("SecurityIDSource", "STRING"),
    30: ("LastMkt", "EXCHANGE"),
    31: ("LastPx", "PRICE"),
    32: ("LastQty", "QTY"),
    34: ("MsgSeqNum", "SEQNUM"),
    35: ("MsgType", "STRING"),
    36: ("NewSeqNo", "SEQNUM"),
    37: ("OrderID", "STRING"),
    38: ("OrderQty", "QTY"),
    39: ("OrdStatus", "CHAR"),
    40: ("OrdType", "CHAR"),
    41: ("OrigClOrdID", "STRING"),
    43: ("PossDupFlag", "BOOLEAN"),
    44: ("Price", "PRICE"),
    45: ("RefSeqNum", "SEQNUM"),
    47: ("Rule80A", "CHAR"),
    48: ("SecurityID", "STRING"),
    49: ("SenderCompID", "STRING"),
    50: ("SenderSubID", "STRING"),
    52: ("SendingTime", "UTCTIMESTAMP"),
    54: ("Side", "CHAR"),
    55: ("Symbol", "STRING"),
    56: ("TargetCompID", "STRING"),
    57: ("TargetSubID", "STRING"),
    58: ("Text", "STRING"),
    59: ("TimeInForce", "CHAR"),
    60: ("TransactTime", "UTCTIMESTAMP"),
    63: ("SettlType", "CHAR"),
    64: ("SettlDate", "LOCALMKTDATE"),
    65: ("SymbolSfx", "STRING"),
    66: ("ListID", "STRING"),
    75: ("TradeDate", "LOCALMKTDATE"),
    76: ("ExecBroker", "STRING"),
    78: ("NoAllocs", "NUMINGROUP"),
    79: ("AllocAccount", "STRING"),
    80: ("AllocQty", "QTY"),
    83: ("RptSeq", "INT"),
    89: ("Signature", "DATA"),
    90: ("SecureDataLen", "LENGTH"),
    91: ("SecureData", "DATA"),
    93: ("SignatureLength", "LENGTH"),
    95: ("RawDataLength", "LENGTH"),
    96: ("RawData", "DATA"),
    97: ("PossResend", "BOOLEAN"),
    98: ("EncryptMethod", "INT"),
    99: ("StopPx", "PRICE"),
    100: ("ExDestination", "EXCHANGE"),
    102: ("CxlRejReason", "INT"),
    103: ("OrdRejReason", "INT"),
    106: ("Issuer", "STRING"),
    107: ("SecurityDesc", "STRING"),
    108: ("HeartBtInt", "INT"),
    110: ("MinQty", "QTY"),
    111: ("MaxFloor", "QTY"),
    112: ("TestReqID", "STRING"),
    115: ("OnBehalfOfCompID", "STRING"),
    116: ("OnBehalfOfSubID", "STRING"),
    117: ("QuoteID", "STRING"),
    122: ("OrigSendingTime", "UTCTIMESTAMP"),
    123: ("GapFillFlag", "BOOLEAN"),
    126: ("ExpireTime", "UTCTIMESTAMP"),
    128: ("DeliverToCompID", "STRING"),
    129: ("DeliverToSubID", "STRING"),
    136: ("NoMiscFees", "NUMINGROUP"),
    137: ("MiscFeeAmt", "AMT"),
    138: ("MiscFeeCurr", "CURRENCY"),
    139: ("MiscFeeType", "CHAR"),
    141: ("ResetSeqNumFlag", "BOOLEAN"),
    142: ("SenderLocationID", "STRING"),
    143: ("TargetLocationID", "STRING"),
    146: ("NoRelatedSym", "NUMINGROUP"),
    150: ("ExecType", "CHAR"),
    151: ("LeavesQty", "QTY"),
    152: ("CashOrderQty", "QTY"),
    167: ("SecurityType", "STRING"),
    168: ("EffectiveTime", "UTCTIMESTAMP"),
    200: ("MaturityMonthYear", "MONTHYEAR"),
    207: ("SecurityExchange", "EXCHANGE"),
    211: ("PegOffsetValue", "FLOAT"),
    262: ("MDReqID", "STRING"),
    263: ("SubscriptionRequestType", "CHAR"),
    264: ("MarketDepth", "INT"),
    265: ("MDUpdateType", "INT"),
    266: ("AggregatedBook", "BOOLEAN"),
    267: ("NoMDEntryTypes", "NUMINGROUP"),
    268: ("NoMDEntries", "NUMINGROUP"),
    269: ("MDEntryType", "CHAR"),
    270: ("MDEntryPx", "PRICE"),
    271: ("MDEntrySize", "QTY"),
    272: ("MDEntryDate", "UTCDATEONLY"),
    273: ("MDEntryTime", "UTCTIMEONLY"),
    274: ("TickDirection", "CHAR"),
    275: ("MDMkt", "EXCHANGE"),
    276: ("QuoteCondition", "MULTIPLEVALUESTRING"),
    277: ("TradeCondition", "MULTIPLEVALUESTRING"),
    278: ("MDEntryID", "STRING"),
    279: ("MDUpdateAction", "CHAR"),
    280: ("MDEntryRefID", "STRING"),
    281: ("MDReqRejReason", "CHAR"),
    282: ("MDEntryOriginator", "STRING"),
    283: ("LocationID", "STRING"),
    284: ("DeskID", "STRING"),
    285: ("DeleteReason", "CHAR"),
    286: ("OpenCloseSettlFlag", "MULTIPLEVALUESTRING"),
    287: ("SellerDays", "INT"),
    288: ("MDEntryBuyer", "STRING"),
    289: ("MDEntrySeller", "STRING"),
    290: ("MDEntryPositionNo", "INT"),
    291: ("FinancialStatus", "MULTIPLEVALUESTRING"),
    292: ("CorporateAction", "MULTIPLEVALUESTRING"),
    299: ("QuoteEntryID", "STRING"),
    336: ("TradingSessionID", "STRING"),
    337: ("ContraTrader", "STRING"),
    346: ("NumberOfOrders", "INT"),
    354: ("EncodedTextLen", "LENGTH"),
    355: ("EncodedText", "DATA"),
    369: ("LastMsgSeqNumProcessed", "SEQNUM"),
    371: ("RefTagID", "INT"),
    372: ("RefMsgType", "STRING"),
    373: ("SessionRejectReason", "INT"),
    375: ("ContraBroker", "STRING"),
    379: ("BusinessRejectRefID", "STRING"),
    380: ("BusinessRejectReason", "INT"),
    382: ("NoContraBrokers", "NUMINGROUP"),
    383: ("MaxMessageSize", "LENGTH"),
    386: ("NoTradingSessions", "NUMINGROUP"),
    387: ("TotalVolumeTraded", "QTY"),
    388: ("DiscretionInst", "CHAR"),
    434: ("CxlRejResponseTo", "CHAR"),
    437: ("ContraTradeQty", "QTY"),
    438: ("ContraTradeTime", "UTCTIMESTAMP"),
    447: ("PartyIDSource", "CHAR"),
    448: ("PartyID", "STRING"),
    452: ("PartyRole", "INT"),
    453: ("NoPartyIDs", "NUMINGROUP"),
    454: ("NoSecurityAltID", "NUMINGROUP"),
    455: ("SecurityAltID", "STRING"),
    456: ("SecurityAltIDSource", "STRING"),
    464: ("TestMessageIndicator", "BOOLEAN"),
    523: ("PartySubID", "STRING"),
    526: ("SecondaryClOrdID", "STRING"),
    527: ("SecondaryExecID", "STRING"),
    553: ("Username", "STRING"),
    554: ("Password", "STRING"),
    581: ("AccountType", "INT"),
    625: ("TradingSessionSubID", "STRING"),
    636: ("WorkingIndicator", "BOOLEAN"),
    655: ("ContraLegRefID", "STRING"),
    789: ("NextExpectedMsgSeqNum", "SEQNUM"),
    802: ("NoPartySubIDs", "NUMINGROUP"),
    803: ("PartySubIDType", "INT"),
    1023: ("MDPriceLevel", "INT"),
    1128: ("ApplVerID", "STRING"),
    1137: ("DefaultApplVerID", "STRING"),
    1362: ("NoFills", "NUMINGROUP"),
    1363: ("FillExecID", "STRING"),
    1364: ("FillPx", "PRICE"),
    1365: ("FillQty", "QTY"),
    6000: ("SimSendNs", "INT"),  # simulator: wall/monotonic ns just before the market data write
    6001: ("SimTickId", "INT"),  # simulator: id of a market data message; an order may echo it
    6035: ("IBLocalSymbol", "STRING"),  # IBKR CTCI custom tag
}

FIELD_NAMES: Final[dict[int, str]] = {t: nt[0] for t, nt in FIELDS.items()}
FIELD_TAGS: Final[dict[str, int]] = {nt[0]: t for t, nt in FIELDS.items()}
FIELD_TYPES: Final[dict[int, str]] = {t: nt[1] for t, nt in FIELDS.items()}

INT_TYPES: Final = frozenset({"INT", "SEQNUM", "LENGTH", "NUMINGROUP"})
DECIMAL_TYPES: Final = frozenset({"PRICE", "QTY", "AMT", "FLOAT", "PRICEOFFSET", "PERCENTAGE"})


def field_name(tag: int) -> str | None:
    return FIELD_NAMES.get(tag)


def field_tag(name: str) -> int | None:
    return FIELD_TAGS.get(name)


def field_type(tag: int) -> str | None:
    return FIELD_TYPES.get(tag)


# ----------------------------------------------------------------------------------------- msg types
MSG_TYPES: Final[dict[bytes, str]] = {
    b"0": "Heartbeat",
    b"1": "TestRequest",
    b"2": "ResendRequest",
    b"3": "Reject",
    b"4": "SequenceReset",
    b"5": "Logout",
    b"A": "Logon",
    b"D": "NewOrderSingle",
    b"F": "OrderCancelRequest",
    b"G": "OrderCancelReplaceRequest",
    b"H": "OrderStatusRequest",
    b"8": "ExecutionReport",
    b"9": "OrderCancelReject",
    b"j": "BusinessMessageReject",
    b"V": "MarketDataRequest",
    b"W": "MarketDataSnapshotFullRefresh",
    b"X": "MarketDataIncrementalRefresh",
    b"Y": "MarketDataRequestReject",
}
MSG_TYPE_CODES: Final[dict[str, bytes]] = {v: k for k, v in MSG_TYPES.items()}
SESSION_MSG_TYPES: Final = frozenset({b"0", b"1", b"2", b"3", b"4", b"5", b"A"})


def msg_type_name(code: bytes | str) -> str | None:
    if isinstance(code, str):
        code = code.encode("ascii", "replace")
    return MSG_TYPES.get(code)


def msg_type_code(name: str) -> bytes | None:
    return MSG_TYPE_CODES.get(name)


def is_session_message(code: bytes) -> bool:
    return code in SESSION_MSG_TYPES


# -------------------------------------------------------------------------------------- required tags
HEADER_REQUIRED: Final = (8, 9, 35, 49, 56, 34, 52)
TRAILER_REQUIRED: Final = (10,)

_REQ_COMMON: dict[bytes, tuple[int, ...]] = {
    b"0": (),
    b"1": (112,),
    b"2": (7, 16),
    b"3": (45,),
    b"4": (36,),
    b"5": (),
    b"A": (98, 108),
    b"9": (37, 11, 41, 39, 434),
    b"j": (372, 380),
    b"V": (262, 263, 264, 267, 146),
    b"Y": (262,),
}
REQUIRED: Final[dict[str, dict[bytes, tuple[int, ...]]]] = {
    "FIX.4.2": {
        **_REQ_COMMON,
        b"D": (11, 21, 55, 54, 60, 40),
        b"F": (41, 11, 55, 54, 60),
        b"G": (41, 11, 21, 55, 54, 60, 40),
        b"H": (11, 55, 54),
        b"8": (37, 17, 20, 150, 39, 55, 54, 151, 14, 6),
        b"W": (55, 268),
        b"X": (268,),
    },
    "FIX.4.4": {
        **_REQ_COMMON,
        b"D": (11, 55, 54, 60, 40),
        b"F": (41, 11, 55, 54, 60),
        b"G": (41, 11, 55, 54, 60, 40),
        b"H": (11, 54),
        b"8": (37, 17, 150, 39, 55, 54, 151, 14, 6),
        b"W": (55, 268),
        b"X": (268,),
    },
}
# required tags inside each entry of a group: (version, count tag) -> tags
GROUP_REQUIRED: Final[dict[str, dict[int, tuple[int, ...]]]] = {
    "FIX.4.2": {268: (269,), 267: (269,), 146: (55,), 382: (375,)},
    "FIX.4.4": {268: (269,), 267: (269,), 146: (55,), 382: (375,), 453: (448,)},
}
# In 35=X (4.2 and 4.4) each entry must carry 279 MDUpdateAction; in 4.4 269 may be omitted on a delete.
X_ENTRY_REQUIRED: Final[dict[str, tuple[int, ...]]] = {"FIX.4.2": (279,), "FIX.4.4": (279,)}


def _version_key(begin_string: bytes | str) -> str:
    if isinstance(begin_string, bytes):
        begin_string = begin_string.decode("ascii", "replace")
    return "FIX.4.2" if begin_string in ("FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3") else "FIX.4.4"


def required_tags(begin_string: bytes | str, msg_type: bytes | str) -> tuple[int, ...] | None:
    """Required body tags of ``msg_type`` in that FIX version; None when the message type is unknown."""
    if isinstance(msg_type, str):
        msg_type = msg_type.encode("ascii", "replace")
    return REQUIRED[_version_key(begin_string)].get(msg_type)


# -------------------------------------------------------------------------------------------- enums
ENUMS: Final[dict[int, dict[bytes, str]]] = {
    20: {b"0": "NEW", b"1": "CANCEL", b"2": "CORRECT", b"3": "STATUS"},
    21: {b"1": "AUTOMATED_EXECUTION_NO_INTERVENTION", b"2": "AUTOMATED_EXECUTION_INTERVENTION_OK",
         b"3": "MANUAL_ORDER"},
    35: MSG_TYPES,
    39: {b"0": "NEW", b"1": "PARTIALLY_FILLED", b"2": "FILLED", b"3": "DONE_FOR_DAY", b"4": "CANCELED",
         b"5": "REPLACED", b"6": "PENDING_CANCEL", b"7": "STOPPED", b"8": "REJECTED", b"9": "SUSPENDED",
         b"A": "PENDING_NEW", b"B": "CALCULATED", b"C": "EXPIRED", b"D": "ACCEPTED_FOR_BIDDING",
         b"E": "PENDING_REPLACE"},
    40: {b"1": "MARKET", b"2": "LIMIT", b"3": "STOP", b"4": "STOP_LIMIT", b"5": "MARKET_ON_CLOSE",
         b"B": "LIMIT_ON_CLOSE", b"K": "MARKET_WITH_LEFTOVER_AS_LIMIT", b"P": "PEGGED"},
    43: {b"Y": "YES", b"N": "NO"},
    54: {b"1": "BUY", b"2": "SELL", b"3": "BUY_MINUS", b"4": "SELL_PLUS", b"5": "SELL_SHORT",
         b"6": "SELL_SHORT_EXEMPT", b"8": "CROSS"},
    59: {b"0": "DAY", b"1": "GOOD_TILL_CANCEL", b"2": "AT_THE_OPENING", b"3": "IMMEDIATE_OR_CANCEL",
         b"4": "FILL_OR_KILL", b"5": "GOOD_TILL_CROSSING", b"6": "GOOD_TILL_DATE", b"7": "AT_THE_CLOSE"},
    97: {b"Y": "YES", b"N": "NO"},
    98: {b"0": "NONE", b"1": "PKCS", b"2": "DES", b"3": "PKCS_DES", b"4": "PGP_DES", b"5": "PGP_DES_MD5",
         b"6": "PEM_DES_MD5"},
    102: {b"0": "TOO_LATE_TO_CANCEL", b"1": "UNKNOWN_ORDER", b"2": "BROKER_OPTION",
          b"3": "ORDER_ALREADY_IN_PENDING_STATUS", b"99": "OTHER"},
    103: {b"0": "BROKER_OPTION", b"1": "UNKNOWN_SYMBOL", b"2": "EXCHANGE_CLOSED",
          b"3": "ORDER_EXCEEDS_LIMIT", b"4": "TOO_LATE_TO_ENTER", b"5": "UNKNOWN_ORDER",
          b"6": "DUPLICATE_ORDER", b"99": "OTHER"},
    123: {b"Y": "YES", b"N": "NO"},
    141: {b"Y": "YES", b"N": "NO"},
    150: {b"0": "NEW", b"1": "PARTIAL_FILL", b"2": "FILL", b"3": "DONE_FOR_DAY", b"4": "CANCELED",
          b"5": "REPLACED", b"6": "PENDING_CANCEL", b"7": "STOPPED", b"8": "REJECTED", b"9": "SUSPENDED",
          b"A": "PENDING_NEW", b"B": "CALCULATED", b"C": "EXPIRED", b"D": "RESTATED",
          b"E": "PENDING_REPLACE", b"F": "TRADE", b"G": "TRADE_CORRECT", b"H": "TRADE_CANCEL",
          b"I": "ORDER_STATUS"},
    263: {b"0": "SNAPSHOT", b"1": "SNAPSHOT_PLUS_UPDATES", b"2": "DISABLE_PREVIOUS_SNAPSHOT"},
    265: {b"0": "FULL_REFRESH", b"1": "INCREMENTAL_REFRESH"},
    266: {b"Y": "YES", b"N": "NO"},
    269: {b"0": "BID", b"1": "OFFER", b"2": "TRADE", b"3": "INDEX_VALUE", b"4": "OPENING_PRICE",
          b"5": "CLOSING_PRICE", b"6": "SETTLEMENT_PRICE", b"7": "TRADING_SESSION_HIGH_PRICE",
          b"8": "TRADING_SESSION_LOW_PRICE", b"9": "TRADING_SESSION_VWAP_PRICE", b"A": "IMBALANCE",
          b"B": "TRADE_VOLUME", b"C": "OPEN_INTEREST"},
    274: {b"0": "PLUS_TICK", b"1": "ZERO_PLUS_TICK", b"2": "MINUS_TICK", b"3": "ZERO_MINUS_TICK"},
    279: {b"0": "NEW", b"1": "CHANGE", b"2": "DELETE"},
    281: {b"0": "UNKNOWN_SYMBOL", b"1": "DUPLICATE_MDREQID", b"2": "INSUFFICIENT_BANDWIDTH",
          b"3": "INSUFFICIENT_PERMISSIONS", b"4": "UNSUPPORTED_SUBSCRIPTIONREQUESTTYPE",
          b"5": "UNSUPPORTED_MARKETDEPTH", b"6": "UNSUPPORTED_MDUPDATETYPE",
          b"7": "UNSUPPORTED_AGGREGATEDBOOK", b"8": "UNSUPPORTED_MDENTRYTYPE"},
    373: {b"0": "INVALID_TAG_NUMBER", b"1": "REQUIRED_TAG_MISSING",
          b"2": "TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE", b"3": "UNDEFINED_TAG",
          b"4": "TAG_SPECIFIED_WITHOUT_A_VALUE", b"5": "VALUE_IS_INCORRECT",
          b"6": "INCORRECT_DATA_FORMAT_FOR_VALUE", b"7": "DECRYPTION_PROBLEM",
          b"8": "SIGNATURE_PROBLEM", b"9": "COMPID_PROBLEM", b"10": "SENDINGTIME_ACCURACY_PROBLEM",
          b"11": "INVALID_MSGTYPE", b"13": "TAG_APPEARS_MORE_THAN_ONCE",
          b"14": "TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER", b"15": "REPEATING_GROUP_FIELDS_OUT_OF_ORDER",
          b"16": "INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP", b"99": "OTHER"},
    380: {b"0": "OTHER", b"1": "UNKNOWN_ID", b"2": "UNKNOWN_SECURITY",
          b"3": "UNSUPPORTED_MESSAGE_TYPE", b"4": "APPLICATION_NOT_AVAILABLE",
          b"5": "CONDITIONALLY_REQUIRED_FIELD_MISSING", b"6": "NOT_AUTHORIZED",
          b"7": "DELIVERTO_FIRM_NOT_AVAILABLE_AT_THIS_TIME"},
    434: {b"1": "ORDER_CANCEL_REQUEST", b"2": "ORDER_CANCEL_REPLACE_REQUEST"},
    447: {b"B": "BIC", b"C": "GENERAL_IDENTIFIER", b"D": "PROPRIETARY_CUSTOM_CODE", b"G": "MIC"},
    464: {b"Y": "YES", b"N": "NO"},
}


def enum_name(tag: int, value: bytes) -> str | None:
    e = ENUMS.get(tag)
    return None if e is None else e.get(value)


# Session Reject (35=3) SessionRejectReason (373) codes used by the session layer.
REJECT_INVALID_TAG_NUMBER: Final = 0
REJECT_REQUIRED_TAG_MISSING: Final = 1
REJECT_TAG_NOT_DEFINED_FOR_MSG_TYPE: Final = 2
REJECT_UNDEFINED_TAG: Final = 3
REJECT_TAG_WITHOUT_VALUE: Final = 4
REJECT_VALUE_INCORRECT: Final = 5
REJECT_INCORRECT_DATA_FORMAT: Final = 6
REJECT_COMPID_PROBLEM: Final = 9
REJECT_SENDINGTIME_ACCURACY: Final = 10
REJECT_INVALID_MSGTYPE: Final = 11
REJECT_TAG_APPEARS_MORE_THAN_ONCE: Final = 13
REJECT_INCORRECT_NUMINGROUP_COUNT: Final = 16

# ------------------------------------------------------------------------------------------- groups
# count tag -> (delimiter = first tag of each entry, direct member tags incl. nested count tags)
_GROUP_DEFS: dict[int, tuple[int, tuple[int, ...]]] = {
    268: (279, (279, 269, 278, 280, 55, 65, 48, 22, 207, 167, 270, 15, 271, 272, 273, 274, 275, 336, 625,
                276, 277, 282, 283, 284, 286, 59, 432, 126, 110, 18, 287, 37, 299, 288, 289, 346, 290,
                387, 291, 292, 58, 354, 355, 1023, 83, 285, 454, 453, 386)),
    267: (269, (269,)),
    146: (55, (55, 65, 48, 22, 454, 167, 200, 541, 201, 202, 206, 231, 223, 106, 107, 207, 460, 461,
               15, 336, 625, 386, 262)),
    382: (375, (375, 337, 437, 438, 655)),
    453: (448, (448, 447, 452, 802)),
    802: (523, (523, 803)),
    454: (455, (455, 456)),
    386: (336, (336, 625)),
    78: (79, (79, 661, 736, 467, 80, 81, 153, 154, 539)),
    136: (137, (137, 138, 139, 891)),
    1362: (1363, (1363, 1364, 1365, 1443, 1414)),
}


def _closure(count_tag: int, seen: frozenset[int] = frozenset()) -> set[int]:
    _first, members = _GROUP_DEFS[count_tag]
    out = set(members)
    for m in members:
        if m in _GROUP_DEFS and m not in seen and m != count_tag:
            out |= _closure(m, seen | {count_tag})
    return out


GROUP_DELIMITERS: Final[dict[int, int]] = {c: d[0] for c, d in _GROUP_DEFS.items()}
GROUP_MEMBERS: Final[dict[int, frozenset[int]]] = {c: frozenset(_closure(c)) for c in _GROUP_DEFS}
# what the parser uses: count tag -> (delimiter, member tags as ASCII bytes, nested groups included)
GROUPS: Final[dict[int, tuple[int, frozenset[bytes]]]] = {
    c: (GROUP_DELIMITERS[c], frozenset(b"%d" % t for t in GROUP_MEMBERS[c])) for c in _GROUP_DEFS
}
