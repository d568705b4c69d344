"""chat/config.py: the 1.1 settings (login and sign-up limits, the database pool) and the
removal of SECRET_KEY (nothing is signed, so no key file is written)."""

from __future__ import annotations

import pytest

from chat import config


@pytest.mark.parametrize("name,default", [("CHAT_RATE_LIMIT", "20/second"),
                                          ("CHAT_LOGIN_RATE_LIMIT", "10/minute"),
                                          ("CHAT_SIGNUP_RATE_LIMIT", "20/minute")])
def test_rate_limits_have_defaults_and_the_same_format_check(tmp_path, name, default):
    assert config.from_environment(str(tmp_path), {})[name] == default
    assert config.from_environment(str(tmp_path), {name: "3/hour"})[name] == "3/hour"
    for bad in ("10", "ten/minute", "5/fortnight", "1/2 minutes"):
        with pytest.raises(config.ConfigError, match=name):
            config.from_environment(str(tmp_path), {name: bad})


def test_database_pool_size(tmp_path):
    assert config.from_environment(str(tmp_path), {})["DATABASE_POOL_SIZE"] == 5
    env = {"DATABASE_POOL_SIZE": "12"}
    assert config.from_environment(str(tmp_path), env)["DATABASE_POOL_SIZE"] == 12
    for bad in ("0", "-1", "five"):
        with pytest.raises(config.ConfigError, match="DATABASE_POOL_SIZE"):
            config.from_environment(str(tmp_path), {"DATABASE_POOL_SIZE": bad})


def test_postgres_engine_pool_comes_from_database_pool_size():
    from chat import POOL_OVERFLOW, _engine_options

    options = _engine_options({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://x/y",
                               "DATABASE_POOL_SIZE": 7})
    assert (options["pool_size"], options["max_overflow"]) == (7, POOL_OVERFLOW)
    assert POOL_OVERFLOW <= 2


def test_no_secret_key_is_made_or_kept(tmp_path):
    settings = config.from_environment(str(tmp_path), {"SECRET_KEY": "ignored"})
    assert "SECRET_KEY" not in settings
    assert list(tmp_path.iterdir()) == []
