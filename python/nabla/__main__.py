"""``python3 -m nabla train|eval|info|tune|prof|bench ...``: the nabla command line.

Runs the ``nabla`` executable that was built (build tree) or installed
(``cmake --install``) with this module, replacing the Python process
(os.execv), so its output, exit status and Ctrl-C behave exactly as when it
is run directly. The executable is, in order: $NABLA_CLI, the path recorded
in nabla/_paths.py at build or install time, ``nabla`` on PATH.
"""
import os
import shutil
import sys


def cli_path():
    """The nabla executable this module runs, or None."""
    env = os.environ.get("NABLA_CLI")
    if env:
        return env
    try:
        from ._paths import cli
    except ImportError:
        cli = ""
    if cli and os.access(cli, os.X_OK):
        return cli
    return shutil.which("nabla")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    exe = cli_path()
    if exe is None:
        sys.stderr.write("python3 -m nabla: the nabla command line was not found (build it with "
                         "NABLA_BUILD_TOOLS=ON, or set NABLA_CLI to its path)\n")
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(exe, [exe] + list(argv))


if __name__ == "__main__":
    sys.exit(main())
