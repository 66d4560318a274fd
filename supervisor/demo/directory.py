"""The demo directory: used by ``careledger serve --demo`` only, and labelled as such.

It stands in for the agency directory on a machine with no LDAP server, so
the README's first command works anywhere. It is enabled only for a data
folder that carries the demo marker, which a real data folder never has.
Passwords are random per demo, printed once on start and kept as scrypt
hashes in ``demo-accounts.json`` (0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from supervisor.custody.key_files import write_secret
from supervisor.web.directory_auth import Identity, LoginRefusedError

__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_MARKER",
    "DemoDirectory",
    "create_demo_accounts",
    "demo_sign_in",
]

#: Only a folder with this file is ever emptied by a demo, and only it may use this directory.
DEMO_MARKER = ".careledger-demo"

#: user name -> (display name, roles)
DEMO_ACCOUNTS: dict[str, tuple[str, frozenset[str]]] = {
    "demo-regulator": ("演示监管员", frozenset({"regulator"})),
    "demo-supervisor": ("演示监管负责人", frozenset({"regulator", "supervisor"})),
    "demo-auditor": ("演示审计员", frozenset({"auditor"})),
}
_FILE = "demo-accounts.json"


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


def create_demo_accounts(folder: Path, *, show_on_sign_in: bool = False) -> dict[str, str]:
    """Random passwords for the demo accounts; returns user name -> password.

    ``show_on_sign_in`` keeps them (0600, in the demo folder) for the demo's sign-in page
    to show: a demo, not a directory; nothing else ever uses this file.
    """
    passwords = {name: secrets.token_urlsafe(9) for name in DEMO_ACCOUNTS}
    stored: dict[str, Any] = {}
    for name, password in passwords.items():
        salt = secrets.token_bytes(16)
        stored[name] = {
            "salt": base64.b64encode(salt).decode(),
            "scrypt": base64.b64encode(_hash(password, salt)).decode(),
        }
    if show_on_sign_in:
        stored["shown"] = passwords
    write_secret(folder / _FILE, json.dumps(stored, indent=2) + "\n")
    return passwords


class DemoDirectory:
    """Authenticates the demo accounts of one demo folder."""

    is_demo = True

    def __init__(self, folder: Path) -> None:
        self._stored = json.loads((folder / _FILE).read_text(encoding="utf-8"))

    @property
    def shown_accounts(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        """(user name, display name, roles, password) for the demo's sign-in page."""
        shown = self._stored.get("shown") or {}
        return [
            (name, DEMO_ACCOUNTS[name][0], tuple(sorted(DEMO_ACCOUNTS[name][1])), password)
            for name, password in shown.items()
            if name in DEMO_ACCOUNTS
        ]

    def authenticate(self, username: str, password: str) -> Identity:
        name = username.strip().casefold()  # like LDAP's uid, case does not make a person
        entry = self._stored.get(name) if name in DEMO_ACCOUNTS else None
        if entry is None or not password:
            raise LoginRefusedError(f"no demo account {name!r}")
        expected = base64.b64decode(entry["scrypt"])
        if not hmac.compare_digest(_hash(password, base64.b64decode(entry["salt"])), expected):
            raise LoginRefusedError(f"wrong password for demo account {name!r}", name)
        display_name, roles = DEMO_ACCOUNTS[name]
        return Identity(name, f"uid={name},ou=demo", display_name, roles)


def demo_sign_in(folder: Path) -> DemoDirectory | None:
    """The demo directory of ``folder`` if it is a demo folder with accounts, else None."""
    if (folder / DEMO_MARKER).exists() and (folder / _FILE).exists():
        return DemoDirectory(folder)
    return None
