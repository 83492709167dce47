"""Bad input: a clear error before any AWS call, exit 2, nothing changed.

A botocore hook registered for every event of every client fails the command
if any AWS request is about to be sent; ``unchanged()`` proves the emulator's
state did not move.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import run

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]

BAD_ARGS: list[tuple[tuple[str, ...], str, str | None]] = [
    # (arguments, expected words in the message, domain)
    (("status",), "is not a domain name", "londontamed..com"),
    (("init",), "is not a domain name", "-bad-.com"),
    (("init",), "is not a domain name", "10.0.0.1"),
    (("deploy", "--ami", "ami-XYZ"), "is not an AMI id", "londontamed.com"),
    (("deploy", "--version", "v 1"), "is not a valid release version", "londontamed.com"),
    (("init", "--admin-cidr", "10.0.0.1/8"), "is not a CIDR range", "londontamed.com"),
    (("init", "--admin-cidr", "nonsense"), "is not a CIDR range", "londontamed.com"),
    (("init", "--admin-cidr", "0.0.0.0/0"), "whole internet", "londontamed.com"),
    (("--region", "mars-north-9x", "status"), "is not an AWS region", "londontamed.com"),
    (("deploy", "--version", "v2", "--capacity", "0"), "capacity", "londontamed.com"),
    (("deploy", "--version", "v2", "--capacity", "two"), "--capacity", "londontamed.com"),
    (("deploy", "--version", "v2", "--timeout", "5 parsecs"), "not a duration", "londontamed.com"),
    (("deploy", "--version", "v2", "--timeout", "48h"), "out of range", "londontamed.com"),
    (("init", "--hosts", "www,-api"), "not a valid host name", "londontamed.com"),
    (("switch", "--check-url", "ftp://example.com/"), "not an http(s) URL", "londontamed.com"),
    (("switch", "--check-timeout", "soon"), "not a duration", "londontamed.com"),
    (("--strategy", "rolling", "switch", "--check", "true"), "not supported", "londontamed.com"),
]

BAD_FILES: list[tuple[str, str]] = [
    ('domain = "londontamed.com"\ncolour = "blue"\n', "unknown key 'colour'"),
    ('domain = "londontamed.com"\ncapacity = "two"\n', "capacity: expected a whole number"),
    ('domain = "londontamed.com"\ncapacity = 3.5\n', "capacity"),
    ('domain = "londontamed.com"\nhosts = ["www api"]\n', "not a valid host name"),
    ('domain = "londontamed.com"\nhosts = 3\n', "hosts: expected a list of strings"),
    ('domain = "londontamed.com"\nhosts = "www"\n', 'hosts: expected a list of strings, got "www"'),
    (
        'domain = "londontamed.com"\nlaunch_configuration = "yes"\n',
        'launch_configuration: expected true or false, got "yes"',
    ),
    ('domain = "londontamed.com"\ntimeout = true\n', "timeout"),
    ('domain = "londontamed.com"\nchecks = [1, 2]\n', "checks: expected a list of strings"),
    ('domain = "londontamed.com"\nregion = "Europe"\n', "is not an AWS region"),
    ('domain = "londontamed.com"\nadmin_cidrs = ["10.0.0.0/33"]\n', "not a CIDR range"),
    ('domain = "londontamed.com"\n[deploy]\ncapacity = 2\n', "unknown key 'deploy'"),
    ('domain = "londontamed.com\n', "not valid TOML"),
    ("domain = 42\n", "domain: expected a string, got 42"),
]


class NoAws:
    """A botocore hook that records (and refuses) every request about to be sent."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(str(kwargs.get("event_name")))
        raise AssertionError("bad input reached AWS")

    @property
    def hook(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-send", self)]


def test_no_aws_hook_sees_calls(aws: str) -> None:
    """The hook works: a good command is caught making calls."""
    spy = NoAws()
    with pytest.raises(AssertionError, match="reached AWS"):
        run("status", hooks=spy.hook)
    assert spy.calls


def test_bad_arguments_are_refused_before_any_aws_call(
    aws: str, unchanged: Unchanged, tmp_path: Path
) -> None:
    assert run("init").code == 0
    with unchanged():
        for args, words, domain in BAD_ARGS:
            spy = NoAws()
            r = run(*args, hooks=spy.hook, domain=domain)
            assert r.code == 2, (args, r.code, r.err)
            assert spy.calls == [], args
            assert words in r.err, (args, r.err)
            assert "to fix: " in r.err or "Usage:" in r.err, (args, r.err)
        for text, words in BAD_FILES:
            (tmp_path / "bluegreen.toml").write_text(text)
            for args in (
                ("status",),
                ("deploy", "--version", "v1"),
                ("switch",),
                ("clean", "--yes"),
            ):
                spy = NoAws()
                r = run(*args, hooks=spy.hook, domain=None)
                assert r.code == 2, (text, args, r.err)
                assert spy.calls == [], (text, args)
                assert words in r.err and "bluegreen.toml" in r.err, (text, r.err)
                assert "to fix: " in r.err, (text, r.err)  # every refusal says what to do


WRONG_TYPE = {  # a value of another type for each kind of setting
    "a string": "42",
    "true or false": '"yes"',
    "a whole number": '"3"',
    "a list of strings": '"www"',
    "a list of whole numbers": '"10,50,100"',
}


def test_every_setting_of_the_wrong_type_is_refused(
    aws: str, unchanged: Unchanged, tmp_path: Path
) -> None:
    """Settings files are typed: each key given a value of another type is exit 2,
    naming the key, the expected type and the value; nothing reaches AWS."""
    from bluegreen.model import settings as config

    with unchanged():
        for key in config.KEYS:
            kind = config.file_type(key)
            value = WRONG_TYPE.get(kind, "true")  # durations: a boolean
            domain = "" if key == "domain" else 'domain = "londontamed.com"\n'
            (tmp_path / "bluegreen.toml").write_text(f"{domain}{key} = {value}\n")
            spy = NoAws()
            r = run("status", hooks=spy.hook, domain=None)
            assert r.code == 2, (key, r.err)
            assert spy.calls == [], key
            assert f"{key}: expected {kind}, got {value}" in r.err, (key, r.err)
            assert "bluegreen.toml" in r.err
