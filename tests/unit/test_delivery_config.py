"""config.yaml `delivery:` (the school's print queue, SMTP and SMS services): validated like the policy,
every problem by key path, and secrets only ever named by environment variable."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from casework.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def test_packaged_delivery_settings() -> None:
    d = load_config(ROOT / "config.yaml").delivery
    assert d.smtp.host is None and d.sms.url is None  # nothing leaves a fresh install by itself
    assert d.smtp.password_env == "CASEWORK_SMTP_PASSWORD"
    assert d.bulk_message_letters == ["punctuality_parentmail"]
    assert d.retry.max_attempts >= 1 and all(m > 0 for m in d.retry.backoff_minutes)


def test_a_config_without_delivery_still_loads(data: dict[str, Any]) -> None:
    del data["delivery"]
    assert parse_config(data).delivery.print_queue_dir == "print-queue"


def test_bad_delivery_settings_are_listed_by_key_path(data: dict[str, Any]) -> None:
    d = data["delivery"]
    d["smtp"].update(port=70000, password_env="hunter2!", from_address="not an address")
    d["sms"]["url"] = "ftp://gateway"
    d["retry"].update(max_attempts=0, backoff_minutes=[5, -1])
    d["bulk_message_letters"] = ["punctuality_parentmail", "no_such_letter"]
    with pytest.raises(ConfigError) as err:
        parse_config(data, "bad.yaml")
    paths = {p.split(":")[0] for p in err.value.problems}
    assert {"delivery.smtp.port", "delivery.smtp.password_env", "delivery.smtp.from_address",
            "delivery.sms.url", "delivery.retry.max_attempts", "delivery.retry.backoff_minutes",
            "delivery.bulk_message_letters[1]"} <= paths


def test_a_contacts_preferred_channel_comes_first_where_the_letter_allows_it_and_they_can_be_reached() -> None:
    from casework.models import Contact
    from casework.uow import _channel

    def contact(**kw: object) -> Contact:
        return Contact(name="Jo", address="1 High St", email="jo@example.org", phone="07700 900000", **kw)

    assert _channel(["post", "email"], contact(channel="email")) == ("email", "jo@example.org")
    assert _channel(["post", "email"], contact(channel=None)) == ("post", "1 High St")
    assert _channel(["post", "email"], contact(channel="sms")) == ("post", "1 High St")  # the letter never by SMS
    no_email = Contact(name="Al", address="2 Low St", email=None, phone=None, channel="email")
    assert _channel(["post", "email"], no_email) == ("post", "2 Low St")  # unreachable that way: the letter's order
