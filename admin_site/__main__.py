"""`python -m admin_site create-user NAME --role ROLE`: make an admin user (the first one, too).

The password is read from a prompt, or from standard input when that is not a terminal (one line):
never from the command line, where it would sit in the shell's history and the process list.

    python -m admin_site create-user ann --role admin
    printf '%s\\n' "$PASSWORD" | python -m admin_site create-user bot-ops --role viewer
"""
from __future__ import annotations

import argparse
import getpass
import sys

from admin_site.accounts import ROLES, UserAlreadyExists
from admin_site.config import Config, ConfigError
from admin_site.services import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admin_site", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-user", help="create a user; the password is asked for, or read from stdin")
    create.add_argument("name")
    create.add_argument("--role", choices=ROLES, required=True)
    args = parser.parse_args(argv)
    try:
        services = build(Config.from_env())
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = services.accounts.create(args.name, args.role, password, by="command line")
    except (ValueError, UserAlreadyExists) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    services.audit.record("command line", "user.create", user.name, {"role": user.role})
    print(f"created {user.role} {user.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
