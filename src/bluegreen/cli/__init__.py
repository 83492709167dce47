"""The ``bluegreen`` command line: a thin layer over ``bluegreen.commands``.

- ``runtime``: what the options collect, and the command classes that take the
  global options before or after a command's name;
- ``flags``: every setting's flag, generated from one table;
- ``site``: the root group and the commands that change the site;
- ``tools``: config, history, unlock, bake, images, iam-policy, sandbox, demo;
- ``main``: the entry point, where errors are rendered with their exit codes.

Heavy imports (boto3, rich, moto) happen inside the commands that need them,
so ``bluegreen --help`` starts fast.
"""

from bluegreen.cli import tools as _tools  # noqa: F401  (registers its commands)
from bluegreen.cli.main import main
from bluegreen.cli.runtime import Runtime
from bluegreen.cli.site import cli

__all__ = ["Runtime", "cli", "main"]
