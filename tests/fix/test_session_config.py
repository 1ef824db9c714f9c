"""Session options in config files: ``[venue.session]`` (engine), a simulator client's ``session`` table."""

from __future__ import annotations

from pathlib import Path

import pytest

from hft.engine.config import ConfigError, load_config
from hft.fix.session import FixSession, SessionConfig, session_options
from hft.fix.validation import ValidationOptions
from hft.sim.config import load_sim_config


def test_session_options_accept_hft_and_quickfix_names() -> None:
    opts = session_options({"ResetOnLogon": True, "reset_on_logout": True, "CheckLatency": True,
                            "MaxLatency": 30, "StartTime": "08:00:00", "EndTime": "17:30:00",
                            "TimeZone": "Australia/Sydney", "TimestampPrecision": 3,
                            "ValidateFieldsOutOfOrder": False, "test_request_factor": 1.5,
                            "heartbeat_timeout_factor": 2.4}, "venue.session")
    assert opts["reset_on_logon"] and opts["reset_on_logout"] and opts["max_latency"] == 30.0
    assert opts["validation"] == ValidationOptions(validate_fields_out_of_order=False)
    assert opts["data_dictionary"] == "standard"  # a Validate* switch turns the dictionary on
    cfg = SessionConfig(**opts)
    FixSession(cfg)  # builds (schedule, dictionary)


@pytest.mark.parametrize(("table", "message"), [
    ({"ResetOnLogn": True}, "venue.session.ResetOnLogn: unknown session option"),
    ({"MaxLatency": -1}, "venue.session.MaxLatency: expected a positive number"),
    ({"StartTime": "8am", "EndTime": "17:00:00"}, "venue.session.StartTime: expected HH:MM:SS"),
    ({"StartTime": "08:00:00"}, "start_time and end_time go together"),
    ({"TimeZone": "Mars/Olympus"}, "venue.session.TimeZone: unknown time zone"),
    ({"TimestampPrecision": 4}, "venue.session.TimestampPrecision: expected 0, 3, 6 or 9"),
    ({"CheckCompID": "yes"}, "venue.session.CheckCompID: expected a boolean"),
    ({"DataDictionary": "/nonexistent/FIX42.xml"}, "venue.session.data_dictionary: no such file"),
])
def test_session_options_name_the_bad_key(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        session_options(table, "venue.session")


def test_engine_config_venue_session_table(tmp_path: Path) -> None:
    p = tmp_path / "paper.toml"
    p.write_text('[venue.session]\nResetOnLogout = true\nMaxLatency = 60\nStartTime = "07:00:00"\n'
                 'EndTime = "17:00:00"\nTimeZone = "Australia/Sydney"\n')
    cfg = load_config(p)
    opts = session_options(cfg.venue.session, "venue.session")
    assert opts == {"reset_on_logout": True, "max_latency": 60.0, "start_time": "07:00:00",
                    "end_time": "17:00:00", "time_zone": "Australia/Sydney"}
    p.write_text('[venue.session]\nMaxLatncy = 60\n')
    with pytest.raises(ConfigError, match=r"venue\.session\.MaxLatncy"):
        load_config(p)


def test_sim_config_client_session_credentials(tmp_path: Path) -> None:
    p = tmp_path / "sim.toml"
    p.write_text('[[order_entry.sessions]]\nsender_comp_id = "HFT"\n'
                 '[order_entry.sessions.session]\nrequired_username_env = "SIM_USER"\n'
                 'required_password_env = "SIM_PASS"\n')
    cfg = load_sim_config(p)
    (c,) = cfg.order_entry.sessions
    assert session_options(c.session, "x") == {"required_username_env": "SIM_USER",
                                               "required_password_env": "SIM_PASS"}
    p.write_text('[[order_entry.sessions]]\nsender_comp_id = "HFT"\n[order_entry.sessions.session]\n'
                 'CheckLatncy = true\n')
    with pytest.raises(Exception, match=r"order_entry\.sessions\[0\]\.session\.CheckLatncy"):
        load_sim_config(p)


def test_data_dictionary_choices() -> None:
    for name in ("standard", "hft_venue"):
        assert session_options({"DataDictionary": name}, "venue.session") == {"data_dictionary": name}
        s = FixSession(SessionConfig(data_dictionary=name))
        assert s._dd is not None and s._dd.is_msg_type(b"D")


def _logon_exchange(port: int, extra: str) -> bytes:
    import socket
    import time

    from hft.fix.encoder import format_utc_timestamp

    ts = format_utc_timestamp(time.time_ns(), 3).decode()
    body = f"35=A\x0134=1\x0149=HFT\x0152={ts}\x0156=ASXSIM\x0198=0\x01108=30\x01{extra}"
    head = f"8=FIX.4.2\x019={len(body)}\x01{body}".encode()
    msg = head + b"10=%03d\x01" % (sum(head) & 0xFF)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(msg)
        data = b""
        deadline = time.monotonic() + 5
        while b"\x0110=" not in data[data.find(b"\x0135="):] and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_simulator_checks_username_and_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """hft sim with credentials on a client session refuses a wrong 553/554 (it checked CompIDs only)."""
    from hft.sim.config import ClientSession, FlowSettings, OrderEntryConfig, SimConfig
    from hft.sim.server import SimServer

    monkeypatch.setenv("SIM_TEST_USER", "alice")
    monkeypatch.setenv("SIM_TEST_PASS", "s3cret")
    oe = OrderEntryConfig(sessions=(ClientSession("HFT", session={
        "required_username_env": "SIM_TEST_USER", "required_password_env": "SIM_TEST_PASS"}),))
    cfg = SimConfig.default(order_entry=oe, flow=FlowSettings(enabled=False), metrics_enabled=False)
    with SimServer(cfg) as sim:
        bad = _logon_exchange(sim.order_port, "553=alice\x01554=wrong\x01")
        assert b"\x0135=5\x01" in bad and b"invalid username or password" in bad
        good = _logon_exchange(sim.order_port, "553=alice\x01554=s3cret\x01")
        assert b"\x0135=A\x01" in good
