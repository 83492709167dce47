"""Release images: find the AMI of a version, or check a given AMI.

Convention: a release image is owned by the account and tagged
``bluegreen:domain=DOMAIN`` and ``bluegreen:version=V`` (``bake`` tags its
images so; tag your own Packer images the same way). ``deploy --version V``
looks it up by those tags; ``deploy --ami ID`` takes the image as given and
reads its version from the same tag when present.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.ec2 import tag_value
from bluegreen.errors import BluegreenError, InputError, StateError
from bluegreen.images.imagetests import TAG_TESTED, names_of
from bluegreen.model import Site
from bluegreen.model.naming import (
    TAG_DOMAIN,
    TAG_ROLE,
    TAG_VERSION,
    Names,
    validate_ami,
    validate_version,
)
from bluegreen.observe.checks import Assessment
from bluegreen.plan.strategies.base import Release
from bluegreen.ui import Reporter


def register_demo_image(gw: Gateway, names: Names, version: str) -> str:
    """Register an image for ``version`` from the emulator's catalogue (demo only)."""
    name = names.image_name(version)
    tags = {TAG_DOMAIN: names.domain, TAG_VERSION: version, "Name": name}
    return gw.register_image(name, f"{names.domain} release {version}", tags)


def resolve(gw: Gateway, names: Names, *, ami: str | None, version: str | None) -> Release:
    if not ami and not version:
        raise InputError("deploy needs --ami AMI_ID or --version V", fix="pass one of them")
    if ami:
        validate_ami(ami)
    if version:
        validate_version(version)
    image: dict[str, Any] | None
    if ami:
        found = gw.images([ami])
        image = found[0] if found else None
        if image is None:
            raise StateError(
                f"image {ami} does not exist in {gw.region}",
                fix="check the id and the region (images are regional), or use --version",
            )
        tagged = tag_value(image.get("Tags"), TAG_VERSION)
        if version and tagged and tagged != version:
            raise StateError(
                f"image {ami} is tagged as version {tagged}, not {version}",
                fix="drop --version, or pass the image of that version",
            )
        version = version or tagged
    else:
        assert version
        found = gw.images_tagged({TAG_DOMAIN: names.domain, TAG_VERSION: version})
        if not found:
            raise StateError(
                f"no image of {names.domain} is tagged with version {version}",
                found=f"no image owned by this account has tags {TAG_DOMAIN}={names.domain} "
                f"and {TAG_VERSION}={version} in {gw.region}",
                fix="bake it (`bluegreen bake --version V`), tag your image that way, or pass --ami",
            )
        found.sort(key=lambda i: i.get("CreationDate", ""))
        image = found[-1]
        ami = str(image["ImageId"])
    if image.get("State", "available") != "available":
        raise StateError(
            f"image {ami} is {image.get('State')}, not available",
            fix="wait until the image is available, then deploy",
        )
    if version is not None:
        try:
            validate_version(version)
        except InputError:
            version = None
    name = names.release(version, ami)
    root = str(image.get("RootDeviceName") or "/dev/xvda")
    size = next(
        (
            int(m["Ebs"]["VolumeSize"])
            for m in image.get("BlockDeviceMappings", [])
            if m.get("DeviceName") == root and m.get("Ebs", {}).get("VolumeSize")
        ),
        8,
    )
    return Release(
        ami=ami,
        version=version,
        name=name,
        root_device=root,
        root_size=size,
        tested=tag_value(image.get("Tags"), TAG_TESTED),
    )


def untested_warning(release: Release) -> str | None:
    """What deploy says about an image that never passed ``bake --test`` (None if it did).
    Such images deploy as before: this is a warning, not a refusal."""
    if release.tested is not None:
        return None
    what = f"{release.ami} (version {release.version})" if release.version else release.ami
    return (
        f"image {what} was never tested: it has no {TAG_TESTED} tag. Bake images with "
        "`bluegreen bake --test SCRIPT` (or `tests` in bluegreen.toml) so that an image "
        "exists only when its tests pass (docs/IMAGES.md)"
    )


# -- the site's images: list and prune ----------------------------------------------
TAG_ROLE_BASE = "base"


@dataclass(frozen=True)
class Image:
    """One image of the site (tag ``bluegreen:domain``), release or base."""

    id: str
    name: str
    role: str  # "release", "base" or "other"
    version: str | None
    created: str  # ISO 8601, as EC2 reports it
    source_ami: str | None
    state: str
    snapshots: tuple[str, ...]
    tested: str | None = None  # the TAG_TESTED value: the image passed these tests

    @classmethod
    def from_aws(cls, i: dict[str, Any]) -> Image:
        tags = i.get("Tags")
        role = tag_value(tags, TAG_ROLE)
        version = tag_value(tags, TAG_VERSION)
        if role is None:
            role = "release" if version else "other"
        if role == TAG_ROLE_BASE:
            version = tag_value(tags, "bluegreen:base-version")
        return cls(
            id=str(i["ImageId"]),
            name=str(i.get("Name", "")),
            role=role,
            version=version,
            created=str(i.get("CreationDate", "")),
            source_ami=tag_value(tags, "bluegreen:source-ami"),
            state=str(i.get("State", "available")),
            snapshots=tuple(
                str(m["Ebs"]["SnapshotId"])
                for m in i.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")
            ),
            tested=tag_value(tags, TAG_TESTED),
        )


def site_images(gw: Gateway, names: Names) -> list[Image]:
    """The site's images, newest first: one filtered describe call."""
    found = [Image.from_aws(i) for i in gw.images_tagged({TAG_DOMAIN: names.domain})]
    return sorted(found, key=lambda i: (i.created, i.id), reverse=True)


def environments(site: Site, a: Assessment) -> dict[str, str]:
    """image id -> which environment runs it: live, staging, or another group of the site."""
    out: dict[str, str] = {g.ami: f"group {g.name}" for g in site.groups if g.ami}
    for label, group in (("staging", a.staging_group), ("live", a.live_group)):
        if group is not None and group.ami:
            out[group.ami] = label
    return out


def listing(gw: Gateway, names: Names, site: Site, a: Assessment) -> list[dict[str, Any]]:
    envs = environments(site, a)
    return [
        {
            "image": i.id,
            "name": i.name,
            "role": i.role,
            "version": i.version,
            "created": i.created,
            "source_ami": i.source_ami,
            "state": i.state,
            "environment": envs.get(i.id, "none"),
            "tested": i.tested,
        }
        for i in site_images(gw, names)
    ]


def listing_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no images: bake one with `bluegreen bake --base`, then `bluegreen bake --version V`"
    head = ("VERSION", "ROLE", "IMAGE", "CREATED", "SOURCE", "RUNS IN", "TESTED")
    table = [head] + [
        (
            r["version"] or "-",
            r["role"],
            r["image"],
            r["created"],
            r["source_ami"] or "-",
            r["environment"],
            names_of(r["tested"]) or "no",
        )
        for r in rows
    ]
    widths = [max(len(str(row[c])) for row in table) for c in range(len(head))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in table
    )


def in_use(gw: Gateway, image_ids: Sequence[str]) -> dict[str, str]:
    """image id -> what uses it, for the given images, across the whole account and region.

    What counts: every version of every launch template (an autoscaling group, or an
    operator, may launch any version, not only $Default or $Latest), every launch
    configuration, and every instance that is not terminated. Calls: the launch
    templates (one per 200) and launch configurations (one per 50), then per 100
    images one filtered read of each template's versions and one filtered read of
    instances, all concurrently (AWS applies the image filter, so pages stay small).
    Any failed read raises: prune never deletes on a partial picture.
    """
    ids = list(image_ids)
    if not ids:
        return {}
    used: dict[str, str] = {}
    listed: list[Any] = gw.parallel(gw.all_launch_templates, gw.all_launch_configurations)
    templates, configurations = listed
    for lc in configurations:
        if lc.get("ImageId") in ids:
            used.setdefault(
                str(lc["ImageId"]), f"launch configuration {lc['LaunchConfigurationName']}"
            )
    for start in range(0, len(ids), 100):  # EC2 takes at most 200 values per filter
        chunk = ids[start : start + 100]
        # each template's versions, and the instances, all at once
        reads: list[Callable[[], Any]] = [
            partial(gw.template_versions_using, str(t["LaunchTemplateId"]), chunk)
            for t in templates
        ]
        reads.append(partial(gw.instances_using, chunk))
        *per_template, instances_of = gw.parallel(*reads)
        for t, versions in zip(templates, per_template):
            for number, image in sorted(versions):
                used.setdefault(image, f"launch template {t['LaunchTemplateName']} v{number}")
        for image, instances in instances_of.items():
            used.setdefault(image, f"instance {', '.join(sorted(instances))}")
    return used


def prune_plan(
    images: Sequence[Image], keep: int, used: dict[str, str]
) -> tuple[list[Image], list[Image]]:
    """(kept, doomed), doomed oldest first. Pure.

    Whatever is used (``used``: image id -> by what) stays, and so does every image
    that is not available (a bake in progress). Of the rest, the ``keep`` newest
    releases and the ``keep`` newest base images stay; the others go. Images in use
    do not count towards ``keep``: they are kept in addition."""
    kept: list[Image] = []
    doomed: list[Image] = []
    for role in ("release", TAG_ROLE_BASE):
        free: list[Image] = []
        for i in sorted(
            (i for i in images if i.role == role), key=lambda i: (i.created, i.id), reverse=True
        ):
            (kept if i.id in used or i.state != "available" else free).append(i)
        kept += free[:keep]
        doomed += free[keep:]
    kept += [i for i in images if i.role not in ("release", TAG_ROLE_BASE)]
    doomed.sort(key=lambda i: (i.created, i.id))
    return kept, doomed


def remove(gw: Gateway, image: Image, reporter: Reporter) -> list[str]:
    """Deregister an image, then delete its snapshots; returns the ids removed."""
    removed = []
    if gw.deregister_image(image.id):
        removed.append(image.id)
        reporter.step(f"deregistered image {image.id} ({image.name})")
    for snap in image.snapshots:
        try:
            if gw.delete_snapshot(snap):
                removed.append(snap)
                reporter.detail(f"deleted snapshot {snap}")
        except BluegreenError as e:  # e.g. another image still uses it
            reporter.warn(f"kept snapshot {snap} of {image.id}: {e.message}")
    return removed


def prune(
    gw: Gateway,
    names: Names,
    site: Site,
    a: Assessment,
    keep: int,
    reporter: Reporter,
    *,
    dry_run: bool,
) -> dict[str, Any]:
    """Deregister the oldest images beyond the ``keep`` newest (of releases and of base
    images each) that nothing uses; delete their snapshots."""
    everything = site_images(gw, names)
    used = {**in_use(gw, [i.id for i in everything]), **environments(site, a)}
    kept, doomed = prune_plan(everything, keep, used)
    for i in kept:
        if i.id in used:
            reporter.info(f"keeping {i.id} ({i.name}): used by {used[i.id]}")
    removed: list[str] = []
    for d in doomed:
        if dry_run:
            reporter.info(
                f"would deregister {d.id} ({d.name}) and delete {len(d.snapshots)} snapshot(s)"
            )
        else:
            removed += remove(gw, d, reporter)
    verb = "would remove" if dry_run else "removed"
    summary = (
        f"{verb} {len(doomed)} of {len(everything)} images; kept {len(everything) - len(doomed)}"
    )
    reporter.info(summary)
    return {
        "command": "images prune",
        "result": "dry run" if dry_run else ("succeeded" if doomed else "nothing to do"),
        "summary": summary,
        "keep": keep,
        "pruned": [
            {"image": d.id, "name": d.name, "version": d.version, "role": d.role} for d in doomed
        ],
        "removed": removed,
        "kept": [i.id for i in everything if i not in doomed],
        "in_use": {i.id: used[i.id] for i in kept if i.id in used},
    }
