"""Property tests (hypothesis): no AWS needed.

- every name derived from any valid domain is a valid AWS name of its kind;
- distinct domains never share a name;
- any text given as a domain, AMI id, version, region, CIDR, duration or
  configuration value is either accepted or rejected with ``InputError``
  (never another exception);
- bad input given to the command line ends with exit 2 before any AWS call.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bluegreen.cli import main
from bluegreen.errors import InputError
from bluegreen.model import settings as config
from bluegreen.model.naming import Names, normalise_domain, slug, validate_ami, validate_version
from bluegreen.model.values import parse_duration

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ELB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")  # ELB and target group
LAUNCH_TEMPLATE = re.compile(r"^[A-Za-z0-9().\-/_]{3,128}$")
ASG_NAME = re.compile(r"^[\x21-\x7e]{1,255}$")  # no spaces or control characters; 255 max
IAM_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
SG_NAME = re.compile(r"^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$")
CALLER_REF = re.compile(r"^.{1,128}$")

label = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?\Z")
long_label = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
tld = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}[a-z0-9]\Z")


@st.composite
def domains(draw: Any) -> str:
    parts = draw(st.lists(st.one_of(label, long_label), min_size=1, max_size=4))
    d = ".".join([*parts, draw(tld)])
    assume(len(d) <= 253)
    return d


versions = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
amis = st.from_regex(r"\Aami-(?:[0-9a-f]{8}|[0-9a-f]{17})\Z")


def all_names(n: Names, version: str, ami: str) -> dict[str, str]:
    return {
        "lb1": n.load_balancer(1),
        "lb2": n.load_balancer(2),
        "tg1": n.target_group(1),
        "tg2": n.target_group(2),
        "release": n.release(version, ami),
        "release_no_version": n.release(None, ami),
        "image": n.image_name(version),
        "role": n.role,
        "security_group": n.security_group,
        "caller_ref": n.caller_reference("private", "1700000000000"),
    }


@FAST
@given(domains(), versions, amis)
def test_every_name_is_a_valid_aws_name(domain: str, version: str, ami: str) -> None:
    n = Names.for_domain(domain)
    names = all_names(n, version, ami)
    for key in ("lb1", "lb2", "tg1", "tg2"):
        assert ELB_NAME.match(names[key]), (key, names[key])
    for key in ("release", "release_no_version", "image"):
        assert LAUNCH_TEMPLATE.match(names[key]), (key, names[key])
        assert ASG_NAME.match(names[key]), (key, names[key])
    assert IAM_NAME.match(names["role"]), names["role"]
    assert SG_NAME.match(names["security_group"]), names["security_group"]
    assert CALLER_REF.match(names["caller_ref"])
    assert len(set(names.values()) - {names["security_group"]}) == len(names) - 1
    # deterministic: the same domain gives the same names
    assert all_names(Names.for_domain(domain.upper() + "."), version, ami) == names


@FAST
@given(domains(), domains(), versions, amis)
def test_distinct_domains_never_share_a_name(a: str, b: str, version: str, ami: str) -> None:
    assume(normalise_domain(a) != normalise_domain(b))
    na, nb = (
        all_names(Names.for_domain(a), version, ami),
        all_names(Names.for_domain(b), version, ami),
    )
    assert slug(a) != slug(b)
    assert not set(na.values()) & set(nb.values()), (a, b)


@FAST
@given(domains(), domains(), versions, amis)
def test_every_release_name_is_recognised_as_the_sites_own(
    a: str, b: str, version: str, ami: str
) -> None:
    """Launch configurations carry no tags: teardown and clean know the site's
    by ``is_release``, which must take every name ``release`` gives (with a
    version or without, shortened for a long domain) and no other site's."""
    assume(normalise_domain(a) != normalise_domain(b))
    na, nb = Names.for_domain(a), Names.for_domain(b)
    for name in (na.release(version, ami), na.release(None, ami)):
        assert na.is_release(name, ami), name
        assert not nb.is_release(name, ami), (b, name)
        other = "ami-01234567" if ami != "ami-01234567" else "ami-76543210"
        assert not na.is_release(name, other), (other, name)


@pytest.mark.parametrize(
    ("a", "b"),
    [("my-site.co.uk", "my.site-co.uk"), ("a-b.com", "a.b.com"), ("x--y.com", "x-y.com")],
)
def test_hyphens_and_dots_do_not_collide(a: str, b: str) -> None:
    assert Names.for_domain(a).load_balancer(1) != Names.for_domain(b).load_balancer(1)


@FAST
@given(st.text(max_size=80))
def test_any_text_as_a_domain_is_accepted_or_rejected_cleanly(text: str) -> None:
    try:
        d = normalise_domain(text)
    except InputError:
        return
    n = Names.for_domain(d)
    assert ELB_NAME.match(n.load_balancer(2))


@FAST
@given(st.text(max_size=40))
def test_any_text_as_ami_or_version_is_accepted_or_rejected_cleanly(text: str) -> None:
    for validate in (validate_ami, validate_version):
        with contextlib.suppress(InputError):
            assert validate(text) == text


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.one_of(st.text(max_size=12), st.integers()), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@FAST
@given(st.sampled_from(config.KEYS), values)
def test_any_config_value_is_accepted_or_rejected_cleanly(key: str, value: object) -> None:
    try:
        config.load({key: value}, env={}, config_file=None)
    except InputError as e:
        assert key in e.message


@FAST
@given(st.text(min_size=1, max_size=20).filter(lambda k: k.replace("-", "_") not in config.KEYS))
def test_unknown_config_keys_are_rejected(key: str) -> None:
    with pytest.raises(InputError):
        config.load({key: 1}, env={})


# -- the command line: bad input never reaches AWS -------------------------------
def _run_no_aws(argv: list[str]) -> tuple[int, list[str], str]:
    calls: list[str] = []

    def record(**kwargs: Any) -> None:
        calls.append(str(kwargs.get("event_name")))
        raise AssertionError("an AWS call was made")

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(
            ["--endpoint-url", "http://127.0.0.1:9", *argv],
            hooks=[("before-send", record)],
            standalone=False,
        )
    return code, calls, err.getvalue()


bad_domains = st.text(max_size=30).filter(lambda t: _invalid(normalise_domain, t))
bad_amis = st.text(min_size=1, max_size=25).filter(lambda t: _invalid(validate_ami, t))
bad_durations = st.text(min_size=1, max_size=8).filter(
    lambda t: _invalid(lambda v: parse_duration(v, "timeout"), t)
)


def _invalid(fn: Any, value: str) -> bool:
    if value.startswith("-") or "\x00" in value:
        return False  # would parse as an option / cannot be an argv element
    try:
        fn(value)
    except InputError:
        return True
    return False


@FEW
@given(bad_domains)
def test_bad_domain_never_reaches_aws(domain: str) -> None:
    code, calls, err = _run_no_aws(["--domain", domain, "status"])
    assert (code, calls) == (2, []), err


@FEW
@given(bad_amis)
def test_bad_ami_never_reaches_aws(ami: str) -> None:
    code, calls, err = _run_no_aws(["--domain", "londontamed.com", "deploy", "--ami", ami])
    assert (code, calls) == (2, []), err


@FEW
@given(bad_durations)
def test_bad_timeout_never_reaches_aws(timeout: str) -> None:
    argv = ["--domain", "londontamed.com", "deploy", "--version", "v1", "--timeout", timeout]
    code, calls, err = _run_no_aws(argv)
    assert (code, calls) == (2, []), err


@FEW
@given(st.integers().filter(lambda n: not 1 <= n <= 1000))
def test_bad_capacity_never_reaches_aws(capacity: int) -> None:
    argv = ["--domain", "londontamed.com", "deploy", "--version", "v1", "--capacity", str(capacity)]
    code, calls, err = _run_no_aws(argv)
    assert (code, calls) == (2, []), err
