"""A throwaway OpenLDAP server on a loopback port, for tests that need a real directory.

Configuration and data are written to a temporary folder, loaded with
``slapadd`` and served by ``slapd``; the server is killed afterwards. Tests
using it fail, naming the packages, when slapd is not installed
(``tests/system_tools.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.system_tools import unavailable

__all__ = ["Directory", "running_slapd"]

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMAS = Path("/etc/ldap/schema")
ADMIN_PASSWORD = "admin-secret"


@dataclass(frozen=True)
class Directory:
    url: str
    base_dn: str
    admin_dn: str
    admin_password: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(
    folder: Path, base_dn: str, schemas: Sequence[Path], modules: Sequence[str], extra: str
) -> str:
    includes = "".join(f"include: file://{path}\n" for path in schemas)
    loads = "".join(f"olcModuleLoad: {module}\n" for module in modules)
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
{loads}
dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {base_dn}
olcRootDN: cn=admin,{base_dn}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {folder}/db
olcAccess: {{0}}to attrs=userPassword by anonymous auth by self write by * none
olcAccess: {{1}}to * by users read by * none
{extra}"""


@contextmanager
def running_slapd(
    folder: Path,
    base_dn: str,
    seed_ldif: str,
    extra_schemas: Sequence[Path] = (),
    *,
    modules: Sequence[str] = ("back_mdb",),
    extra_config: str = "",
) -> Iterator[Directory]:
    """slapd serving ``seed_ldif`` under ``base_dn`` on a free loopback port.

    ``modules`` are loaded from /usr/lib/ldap; ``extra_config`` is cn=config LDIF appended
    after the database (an overlay, say), starting with a blank line.
    """
    if not Path(SLAPD).exists():
        unavailable("slapd is required: apt-get install slapd ldap-utils")
    (folder / "slapd.d").mkdir(parents=True)
    (folder / "db").mkdir()
    schemas = [SCHEMAS / "core.ldif", SCHEMAS / "cosine.ldif", SCHEMAS / "inetorgperson.ldif"]
    config = _config(folder, base_dn, [*schemas, *extra_schemas], modules, extra_config)
    (folder / "config.ldif").write_text(config)
    (folder / "data.ldif").write_text(seed_ldif, encoding="utf-8")
    for number, name in ((0, "config.ldif"), (1, "data.ldif")):
        subprocess.run(
            [SLAPADD, "-n", str(number), "-F", str(folder / "slapd.d"), "-l", str(folder / name)],
            check=True,
            capture_output=True,
        )
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    subprocess.run([SLAPD, "-h", f"{url}/", "-F", str(folder / "slapd.d")], check=True)
    pid_file = folder / "slapd.pid"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield Directory(url, base_dn, f"cn=admin,{base_dn}", ADMIN_PASSWORD)
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            for _ in range(100):
                if not pid_file.exists():
                    break
                time.sleep(0.05)
        shutil.rmtree(folder / "db", ignore_errors=True)
