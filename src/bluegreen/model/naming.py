"""Convention over configuration: every AWS name derives from the domain.

The slug is the domain with dots replaced by hyphens (``londontamed.com`` ->
``londontamed-com``); hyphens of the domain are doubled (``my-site.com`` ->
``my--site-com``) so that two distinct domains never share a slug. Every name below is built from it, so the commands need
only ``--domain``.

Names with a hard AWS length limit (classic and application load balancers and
target groups: 32 characters) are shortened deterministically when the slug is
too long: the first characters of the slug, a hyphen and ten characters of the
base-32 SHA-256 of the full domain (50 bits), then the usual suffix. Two
different domains can only share a shortened name if their SHA-256 digests
share 50 bits, which for any realistic number of domains does not happen; a
shortened base always ends in ``-`` plus 10 hash characters, so it never
equals the base of another domain that needed no shortening unless that
domain's slug happens to end in the same 10 characters of its own hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from bluegreen.errors import InputError
from bluegreen.model.adoption import NOTHING_ADOPTED, Adopted

TAG_PREFIX = "bluegreen:"
TAG_DOMAIN = "bluegreen:domain"
TAG_VERSION = "bluegreen:version"
TAG_AMI = "bluegreen:ami"
TAG_ROLE = "bluegreen:role"
# Safety state kept on the autoscaling groups themselves (docs/SAFETY.md):
TAG_PINNED_MIN = "bluegreen:pinned-min"  # the live group's own min size, while a deploy pins it
TAG_OUT_OF_TRAFFIC = "bluegreen:out-of-traffic-since"  # when the live names left this group
TAG_DESIRED_WHEN_LIVE = "bluegreen:desired-when-live"  # its desired capacity at that moment

ELB_NAME_MAX = 32
FQDN_MAX = 253  # a DNS name, without the trailing dot (RFC 1035)
NAME_MAX = 128  # launch templates, AMI names and Route 53 caller references: 128 characters
_ELB_SUFFIX_MAX = len("-production-2")  # the longest suffix bluegreen appends

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_HOST = re.compile(r"^(?!-)[a-z0-9-]{1,55}(?<!-)$")
_AMI = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")


def normalise_domain(domain: str) -> str:
    """Lower-case, without a trailing dot; raises InputError if not a domain name."""
    d = domain.strip().lower().rstrip(".")
    if not d or len(d) > 253 or "." not in d:
        raise InputError(
            f"{domain!r} is not a domain name",
            found="a domain needs at least two labels, such as londontamed.com",
            fix="pass --domain with the site's apex domain, for example --domain londontamed.com",
        )
    labels = d.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise InputError(
                f"{domain!r} is not a domain name",
                found=f"label {label!r}: labels are 1-63 letters, digits or hyphens, "
                "not starting or ending with a hyphen",
                fix="pass --domain with a valid domain, for example --domain londontamed.com",
            )
    if labels[-1].isdigit():
        raise InputError(
            f"{domain!r} is not a domain name",
            found="the top-level label is all digits (an IP address?)",
            fix="pass the site's domain name, not an address",
        )
    return d


def validate_version(version: str) -> str:
    if not _VERSION.match(version):
        raise InputError(
            f"{version!r} is not a valid release version",
            found="versions are 1-63 letters, digits, dots, hyphens or underscores, "
            "starting with a letter or digit",
            fix="use a version such as 1.4.2 or a commit hash",
        )
    return version


def validate_ami(ami: str) -> str:
    if not _AMI.match(ami):
        raise InputError(
            f"{ami!r} is not an AMI id",
            found="AMI ids look like ami-0123456789abcdef0 (8 or 17 hex digits)",
            fix="pass --ami with an image id, or --version to look the image up by its tags",
        )
    return ami


def validate_host(host: str) -> str:
    if not _HOST.match(host) or host.endswith("-staging"):
        raise InputError(
            f"{host!r} is not a valid host name label",
            found="host names are single DNS labels such as www or api, "
            "and may not end in -staging (that suffix names the staging records)",
            fix='set hosts = ["www", "api"] or similar',
        )
    return host


def slug(domain: str) -> str:
    """Dots become hyphens; a hyphen of the domain is doubled first, so that
    distinct domains always get distinct slugs (``a-b.com`` -> ``a--b-com``,
    ``a.b.com`` -> ``a-b-com``). Labels never start or end with a hyphen, so a
    run of one hyphen in a slug is always a dot and a run of 2k hyphens is k
    hyphens of the domain: the mapping can be undone, hence is injective."""
    return normalise_domain(domain).replace("-", "--").replace(".", "-")


def _hash10(domain: str) -> str:
    digest = hashlib.sha256(domain.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:10]


def short_base(domain: str, limit: int = ELB_NAME_MAX - _ELB_SUFFIX_MAX) -> str:
    """The slug, or a deterministic shortening of it that fits ``limit`` characters."""
    s = slug(domain)
    if len(s) <= limit:
        return s
    h = _hash10(normalise_domain(domain))
    head = s[: limit - len(h) - 1].rstrip("-")
    return f"{head}-{h}"


@dataclass(frozen=True)
class Names:
    """Every name the site uses, derived from the domain."""

    domain: str
    hosts: tuple[str, ...] = ("www", "api")
    # existing resources named in the settings, used instead of the names below
    adopted: Adopted = NOTHING_ADOPTED

    @classmethod
    def for_domain(
        cls,
        domain: str,
        hosts: tuple[str, ...] = ("www", "api"),
        adopted: Adopted = NOTHING_ADOPTED,
    ) -> Names:
        d = normalise_domain(domain)
        if not hosts:
            raise InputError("no host names configured", fix='set hosts = ["www", "api"]')
        hs = tuple(validate_host(h) for h in hosts)
        if len(set(hs)) != len(hs):
            raise InputError(f"host names repeat: {', '.join(hs)}", fix="list each host once")
        longest = max((f"{h}-staging.{d}" for h in hs), key=len)
        if len(longest) > FQDN_MAX:
            raise InputError(
                f"domain {d} is too long for its staging names",
                found=f"{longest} has {len(longest)} characters; DNS allows {FQDN_MAX}",
                fix="use a shorter domain or shorter host names",
            )
        return cls(d, hs, adopted)

    @property
    def slug(self) -> str:
        return slug(self.domain)

    @property
    def zone_name(self) -> str:
        return self.domain + "."

    @property
    def vpc(self) -> str:
        return self.slug

    def subnet(self, n: int) -> str:
        return f"{self.slug}-public-{n}"

    @property
    def security_group(self) -> str:
        """The web servers' (instances') group. Sites made before the split used
        it for the load balancers too; ``init`` moves those (docs/SECURITY.md)."""
        return f"{self.slug}-production"

    @property
    def instance_groups(self) -> tuple[str, ...]:
        """What deploy puts on the web servers: the adopted security groups'
        ids, else the name of bluegreen's group (looked up in the VPC when the
        launch template is made)."""
        return self.adopted.security_groups or (self.security_group,)

    @property
    def lb_security_group(self) -> str:
        """The load balancers' group: 80 and 443 from the world, nothing else."""
        return f"{self.slug}-load-balancers"

    @property
    def public_web_group(self) -> str:
        """With ``staging_cidrs``: the group admitting 80/443 from anywhere,
        attached to the load balancer in the live role only."""
        return f"{self.slug}-web-public"

    @property
    def staging_web_group(self) -> str:
        """With ``staging_cidrs``: the group admitting 80/443 from those ranges
        only, attached to the load balancer in the staging role."""
        return f"{self.slug}-web-staging"

    @property
    def key_pair(self) -> str:
        return f"{self.slug}-production"

    @property
    def role(self) -> str:
        return _fit(f"{self.slug}-webserver", 64, self.domain, "-webserver")

    @property
    def instance_profile(self) -> str:
        """The web servers' instance profile: the adopted one, else the role's name."""
        return self.adopted.instance_profile or self.role

    def load_balancer(self, n: int) -> str:
        """Environment ``n``'s load balancer: the adopted one, else bluegreen's."""
        if self.adopted.load_balancers:
            return self.adopted.load_balancers[n - 1]
        return self.own_load_balancer(n)

    def own_load_balancer(self, n: int) -> str:
        """The conventional name of load balancer ``n`` (what init creates)."""
        return f"{short_base(self.domain)}-production-{n}"

    @property
    def load_balancers(self) -> tuple[str, str]:
        return (self.load_balancer(1), self.load_balancer(2))

    @property
    def staging_host_pattern(self) -> str:
        """The host-header pattern of the staging names (the shared ALB's rule)."""
        return f"*-staging.{self.domain}"

    def target_group(self, n: int) -> str:
        return f"{short_base(self.domain)}-tg-{n}"

    @property
    def lock_table(self) -> str:
        """The DynamoDB table holding the lock and the history of every site."""
        return "bluegreen"

    def release(self, version: str | None, ami: str) -> str:
        """Name of a release's ASG and its launch template or configuration
        (at most 128 characters: the launch template limit)."""
        tail = f"{validate_version(version)}-{ami}" if version else ami
        return _fit(f"{self.slug}-{tail}", NAME_MAX, self.domain, f"-{tail}")

    def is_release(self, name: str, ami: str) -> bool:
        """Whether ``name`` is the name of a release of this site running
        ``ami`` (``release(version, ami)`` for some version): how launch
        configurations, which carry no tags, are recognised. Also without a
        version (``SLUG-AMI``), and shortened for a long domain: the version is
        any tail of the name before ``-AMI`` that gives the name back."""
        tail = f"-{ami}"
        if not ami or not name.endswith(tail):
            return False
        if name == self.release(None, ami):
            return True
        body = name[: -len(tail)]
        return any(
            body[i] == "-"
            and _VERSION.match(body[i + 1 :])
            and self.release(body[i + 1 :], ami) == name
            for i in range(len(body))
        )

    def caller_reference(self, label: str, stamp: str) -> str:
        """A Route 53 CallerReference (at most 128 characters)."""
        tail = f"-{label}-{stamp}"
        return "bluegreen-" + _fit(
            self.slug + tail, NAME_MAX - len("bluegreen-"), self.domain, tail
        )

    def live_fqdn(self, host: str) -> str:
        return f"{host}.{self.domain}."

    def staging_fqdn(self, host: str) -> str:
        return f"{host}-staging.{self.domain}."

    @property
    def live_fqdns(self) -> tuple[str, ...]:
        return tuple(self.live_fqdn(h) for h in self.hosts)

    @property
    def staging_fqdns(self) -> tuple[str, ...]:
        return tuple(self.staging_fqdn(h) for h in self.hosts)

    @property
    def private_live_fqdns(self) -> tuple[str, ...]:
        """The live names as the private zone holds them (split-horizon DNS:
        inside the VPC the private zone answers for the whole domain, so it
        must hold the live names too, pointing where the public ones do)."""
        return self.live_fqdns

    @property
    def private_fqdns(self) -> tuple[str, ...]:
        """Every alias record of the private zone: the live and the staging names."""
        return self.private_live_fqdns + self.staging_fqdns

    def image_name(self, version: str) -> str:
        tail = f"-{validate_version(version)}"
        return _fit(self.slug + tail, NAME_MAX, self.domain, tail)

    def tags(self, **extra: str) -> dict[str, str]:
        t = {TAG_DOMAIN: self.domain}
        t.update({f"{TAG_PREFIX}{k}": v for k, v in extra.items()})
        return t


def _fit(name: str, limit: int, domain: str, suffix: str) -> str:
    if len(name) <= limit:
        return name
    return short_base(domain, limit - len(suffix)) + suffix


def bare(dns_name: str) -> str:
    """A DNS name compared the way Route 53 alias targets are: lower case, no
    trailing dot, no ``dualstack.`` prefix."""
    n = dns_name.lower().rstrip(".")
    return n[len("dualstack.") :] if n.startswith("dualstack.") else n
