"""``bake``, ``images`` and ``images prune``: release images (docs/IMAGES.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.lifecycle import run
from bluegreen.lifecycle.session import Session, snapshot


def bake(
    sess: Session,
    *,
    version: str | None = None,
    base: bool = False,
    base_ami: str | None = None,
    scripts: Sequence[str] = (),
    template: str | None = None,
    packer: str | None = None,
    tests: Sequence[str] = (),
) -> dict[str, Any]:
    from bluegreen.images import bake as baking

    return baking.bake(
        sess.gw,
        sess.settings,
        sess.reporter,
        version=version,
        base=base,
        base_ami=base_ami,
        scripts=scripts,
        template_file=template,
        packer=packer,
        dry_run=sess.dry_run,
        tests=tests,
    )


def images_list(sess: Session) -> list[dict[str, Any]]:
    from bluegreen.images import catalog as images

    site, a = snapshot(sess)
    return images.listing(sess.gw, sess.names, site, a)


def images_prune(sess: Session, keep: int) -> dict[str, Any]:
    from bluegreen.images import catalog as images
    from bluegreen.images.bake import record_history

    with run.locked(sess, "images prune"):
        started = sess.gw.clock.now()
        site, a = snapshot(sess)
        result = images.prune(
            sess.gw, sess.names, site, a, keep, sess.reporter, dry_run=sess.dry_run
        )
        if not sess.dry_run:
            facts = {"keep": keep, "removed": result["removed"]}
            record_history(sess.gw, sess.names, "prune", started, result, facts, None)
        return result
