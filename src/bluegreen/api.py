"""bluegreen as a library: every command, and the session they share.

    from bluegreen import api
    from bluegreen.model.settings import load

    sess = api.open_session(load({"domain": "example.com"}))
    api.deploy(sess, version="v2")
    api.switch(sess)

Errors are ``bluegreen.errors.BluegreenError`` subclasses, each with an exit
code (README, "Exit codes").
"""

from bluegreen.commands.admin import history_entries, unlock
from bluegreen.commands.clean import clean
from bluegreen.commands.deploy import deploy
from bluegreen.commands.images import bake, images_list, images_prune
from bluegreen.commands.policy import iam_policy
from bluegreen.commands.release import release
from bluegreen.commands.site import init, teardown
from bluegreen.commands.status import status
from bluegreen.commands.switch import switch
from bluegreen.lifecycle.session import Session, open_session, snapshot

__all__ = [
    "Session",
    "bake",
    "clean",
    "deploy",
    "history_entries",
    "iam_policy",
    "images_list",
    "images_prune",
    "init",
    "open_session",
    "release",
    "snapshot",
    "status",
    "switch",
    "teardown",
    "unlock",
]
