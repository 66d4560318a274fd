"""The portal the browser tests walk: a small inspected province, served with a real agency
directory (slapd) that signs in the three kinds of regulator."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import load_province, write_province
from supervisor.runtime.services import build_services
from tests.slapd import Directory
from tests.supervisor.agency_directory import BASE, GROUPS, PEOPLE, SERVICE_PASSWORD
from tests.system_tools import unavailable

__all__ = ["CHROMIUM", "inspected_province"]

CHROMIUM = "/usr/bin/chromium"


def inspected_province(tmp_path: Path, directory: Directory) -> tuple[Path, dict[str, str]]:
    """The province's files (in ``tmp_path/province``), loaded and inspected into
    ``tmp_path/var``, and the environment that serves it signing in through ``directory``."""
    if not Path(CHROMIUM).exists():
        unavailable("Debian's chromium is required: apt-get install chromium")
    password_file = tmp_path / "portal-reader.password"
    password_file.write_text(SERVICE_PASSWORD + "\n")
    settings = Settings(data_dir=tmp_path / "var")
    initialise(settings)
    folder = tmp_path / "province"
    write_province(
        generate_province(
            institutions=1, days=1, seed=3, violation_rate=0.3, end=date(2026, 11, 1)
        ),
        folder,
    )
    load_province(folder, settings)
    services = build_services(settings)
    services.inspector.follow()
    services.engine.dispose()
    env = {
        "CARELEDGER_PORTAL_LDAP_URL": directory.url,
        "CARELEDGER_PORTAL_LDAP_USERS_BASE": PEOPLE,
        "CARELEDGER_PORTAL_LDAP_SERVICE_DN": f"cn=portal-reader,{BASE}",
        "CARELEDGER_PORTAL_LDAP_SERVICE_PASSWORD_FILE": str(password_file),
        "CARELEDGER_PORTAL_ROLE_GROUPS": ";".join(
            (
                f"regulator=cn=careledger-regulators,{GROUPS}",
                f"supervisor=cn=careledger-supervisors,{GROUPS}",
                f"auditor=cn=careledger-auditors,{GROUPS}",
            )
        ),
        "CARELEDGER_PORTAL_SECURE_COOKIES": "false",
    }
    return folder, env
