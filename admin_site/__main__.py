"""The admin site's command line, with its settings from the environment as the site reads them.

`create-user NAME --role ROLE`: make an admin user (the first one, too). The password is read from a
prompt, or from standard input when that is not a terminal (one line): never from the command line,
where it would sit in the shell's history and the process list.

`seed-demo`: give an empty catalogue the demo bot (its intents, examples, entities, routes, reply
texts and QnA pairs), once: a catalogue that holds anything is left as it is. Run it before the
site starts (the local stack does), not in each of its workers.

    python -m admin_site create-user ann --role admin
    printf '%s\\n' "$PASSWORD" | python -m admin_site create-user bot-ops --role viewer
    python -m admin_site seed-demo
"""
from __future__ import annotations

import argparse
import getpass
import sys

from admin_site import DEMO_DATA, DEMO_QNA, ROOT
from admin_site.accounts import ROLES, UserAlreadyExists
from admin_site.catalogue import ENTITY, INTENT, QNA, seed
from admin_site.services import AdminServices, build
from admin_site.settings import Settings
from switchboard.errors import SwitchboardError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admin_site", description=(__doc__ or "").partition("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-user", help="create a user; the password is asked for, or read from stdin")
    create.add_argument("name")
    create.add_argument("--role", choices=ROLES, required=True)
    sub.add_parser("seed-demo", help="give an empty catalogue the demo bot; a catalogue that holds anything is kept")
    args = parser.parse_args(argv)
    try:  # wrong settings, or a database that cannot be opened with them
        services = build(Settings.from_env())
    except SwitchboardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return create_user(services, args.name, args.role) if args.command == "create-user" else seed_demo(services)


def create_user(services: AdminServices, name: str, role: str) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = services.accounts.create(name, role, password, by="command line")
    except (ValueError, UserAlreadyExists) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    services.audit.record("command line", "user.create", user.name, {"role": user.role})
    print(f"created {user.role} {user.name}")
    return 0


def seed_demo(services: AdminServices) -> int:
    store = services.catalogue
    seeded = seed(store, DEMO_DATA, DEMO_QNA)
    if seeded is None:
        print(f"found a catalogue ({len(store.all(INTENT))} intents, {len(store.all(ENTITY))} entities, "
              f"{len(store.all(QNA))} QnA pairs; or it was seeded before): changed nothing")
        return 0
    print(f"seeded the catalogue with the demo bot from {DEMO_DATA.relative_to(ROOT)} and "
          f"{DEMO_QNA.relative_to(ROOT)}: {seeded.intents} intents ({seeded.examples} examples), "
          f"{seeded.entities} entities, the replies of {seeded.replies} branches, {seeded.qna} QnA pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
