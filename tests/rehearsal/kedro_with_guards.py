"""``python kedro_with_guards.py <kedro args>``: the ``kedro`` CLI with the paper_guard hooks in
``settings.HOOKS`` (a no-op once settings.py lists them), for tests run in a project copy."""

import sys

import imitation_kedro.settings as settings
from imitation_kedro.paper_guard import PaperEnvHook, PaperPreflightHook, RawDataGuardHook

if not any(isinstance(h, PaperEnvHook) for h in settings.HOOKS):
    settings.HOOKS = (*settings.HOOKS, PaperEnvHook(), RawDataGuardHook(), PaperPreflightHook())

from kedro.framework.cli.cli import main  # noqa: E402

sys.argv = ["kedro", *sys.argv[1:]]
main()
