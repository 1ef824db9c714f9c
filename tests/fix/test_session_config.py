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
