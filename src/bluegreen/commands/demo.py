"""``bluegreen demo``: the seed's story for londontamed.com, on an emulator
started inside this process. No AWS account, no arguments, a few seconds."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bluegreen import api
from bluegreen.cli.render import status_text
from bluegreen.emulator import server as sandbox
from bluegreen.images import catalog as images
from bluegreen.model import settings as config
from bluegreen.ui import Reporter

DOMAIN = "londontamed.com"


def run_demo(reporter: Reporter, *, output: str = "text") -> list[dict[str, Any]]:
    emu = sandbox.start()
    statuses: list[dict[str, Any]] = []
    try:
        s = config.load({"domain": DOMAIN, "endpoint_url": emu.url, "region": "us-east-1"}, env={})
        sess = api.open_session(s, reporter)
        say = _say(output)
        say(f"AWS emulator running at {emu.url}; telling the story of {DOMAIN}")

        def chapter(title: str, action: Callable[[], object]) -> None:
            say(f"\n== {title}")
            action()
            st = api.status(sess)
            statuses.append({"step": title, "status": st})
            say(status_text(st))

        chapter(
            "init: VPC, subnets, security group, role, load balancers, zones",
            lambda: api.init(sess),
        )
        amis: dict[str, str] = {}

        def register() -> None:
            if shutil.which("packer"):
                say("Packer is installed: baking the images with it (docs/IMAGES.md)")
                with tempfile.TemporaryDirectory(prefix="bluegreen-demo-") as tmp:
                    base_sh = Path(tmp) / "base.sh"
                    base_sh.write_text("#!/bin/sh\ndnf install -y nginx nodejs\n")
                    base = api.bake(sess, base=True, scripts=[str(base_sh)])
                    say(f"baked base image {base['image']} on Amazon Linux {base['source_ami']}")
                    # An image test (docs/IMAGES.md): on an instance it asks the app's
                    # health endpoint; the emulator has no instance, so it says so.
                    test = Path(tmp) / "health.sh"
                    test.write_text(
                        "#!/bin/sh\n"
                        'if [ "$BLUEGREEN_TEST_ON" = emulator ]; then\n'
                        '  echo "no instance to ask on the emulator"; exit 0\n'
                        "fi\n"
                        'curl -fsS "http://localhost:$BLUEGREEN_HEALTH_PORT$BLUEGREEN_HEALTH_PATH"\n'
                    )
                    for v in ("v1", "v2"):
                        app = Path(tmp) / f"app-{v}.sh"
                        app.write_text(f"#!/bin/sh\necho {v} > /srv/www/VERSION\n")
                        r = api.bake(sess, version=v, scripts=[str(app)], tests=[str(test)])
                        amis[v] = r["image"]
                        say(f"baked image {amis[v]} for {v} on the base image")
                return
            say(
                "Packer is not installed: registering the images directly "
                "(`apt-get install packer` to see them baked)"
            )
            for v in ("v1", "v2"):
                amis[v] = images.register_demo_image(sess.gw, sess.names, v)
                say(f"registered image {amis[v]} for {v} (tagged {DOMAIN}/{v})")

        chapter("bake a base image and two release images (v1, v2)", register)
        chapter("deploy v1 to staging", lambda: api.deploy(sess, version="v1"))
        chapter("switch: v1 goes live", lambda: api.switch(sess))
        chapter("deploy v2 to staging", lambda: api.deploy(sess, version="v2"))
        chapter("switch: v2 goes live, v1 stays in staging", lambda: api.switch(sess))
        chapter("rollback: v1 is live again", lambda: api.switch(sess, rollback=True))
        chapter("switch again: v2 is live", lambda: api.switch(sess))
        chapter("clean: remove v1 from staging", lambda: api.clean(sess, force=True))
        say("\nThe end: v2 is live, staging is empty and ready for the next release.")
    finally:
        emu.stop()
    if output == "json":
        click.echo(json.dumps(statuses, indent=2, default=str))
    return statuses


def _say(output: str) -> Callable[[str], None]:
    def say(text: str) -> None:
        click.echo(text, err=output == "json")

    return say
