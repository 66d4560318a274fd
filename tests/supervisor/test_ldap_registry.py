"""The registry synced from a real OpenLDAP directory (slapd on a loopback port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspectors.reference_files import ReferenceFileError, parse_reference_rows
from supervisor.cli import cli
from supervisor.inspection.registry_sync import (
    DirectoryConfig,
    RegistrySyncError,
    attribute_map,
    read_registry_rows,
)
from tests.slapd import Directory, running_slapd

SCHEMA = Path(__file__).resolve().parents[2] / "ops" / "openldap" / "provider-directory.ldif"
BASE = "dc=wsjkw,dc=zj,dc=gov,dc=cn"
READER_PASSWORD = "reader-secret"


def _provider(uid: str, cn: str, licence: str, role: str, **more: str | list[str]) -> str:
    lines = [
        f"dn: uid={uid},ou=providers,{BASE}",
        "objectClass: inetOrgPerson",
        "objectClass: healthProvider",
        f"uid: {uid}",
        f"cn: {cn}",
        f"sn: {cn[0]}",
        f"healthLicenseNumber: {licence}",
        f"healthPractitionerRole: {role}",
        f"healthLicenseStatus: {more.pop('status', 'active')}",
        f"healthLicenseValidFrom: {more.pop('valid_from', '2015-01-01')}",
        "healthPracticeStart: 2010-07-01",
        f"healthPrimaryInstitution: {more.pop('primary', 'P3301000001')}",
    ]
    for attribute, values in more.items():
        for value in values if isinstance(values, list) else [values]:
            lines.append(f"{attribute}: {value}")
    return "\n".join(lines) + "\n\n"


SEED = (
    f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: wsjkw\n"
    "o: 浙江省卫生健康委员会\n\n"
    f"dn: ou=providers,{BASE}\nobjectClass: organizationalUnit\nou: providers\n\n"
    f"dn: cn=registry-reader,{BASE}\nobjectClass: simpleSecurityObject\n"
    "objectClass: organizationalRole\n"
    f"cn: registry-reader\nuserPassword: {READER_PASSWORD}\n\n"
    + _provider(
        "zhangwei",
        "张伟",
        "110330000001",
        "physician",
        healthMultiSiteInstitution=["H3301000002", "H3301000007"],
        healthDepartment=["CARDIOLOGY", "ENDOCRINOLOGY"],
        healthLicenseValidTo="2031-12-31",
    )
    + _provider("lina", "李娜", "210330000002", "pharmacist", healthDepartment="PHARMACY")
    + _provider(
        "wangfang",
        "王芳",
        "110330000003",
        "physician",
        status="suspended",
        valid_from="20160301000000Z",
        healthDepartment="DERMATOLOGY",
    )
)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    with running_slapd(tmp_path_factory.mktemp("slapd"), BASE, SEED, [SCHEMA]) as served:
        yield served


def _config(directory: Directory, **changes: object) -> DirectoryConfig:
    values: dict[str, object] = {
        "url": directory.url,
        "base_dn": f"ou=providers,{BASE}",
        "bind_dn": f"cn=registry-reader,{BASE}",
        "password": READER_PASSWORD,
    }
    values.update(changes)
    return DirectoryConfig(**values)  # type: ignore[arg-type]


def test_directory_entries_become_canonical_registry_rows(directory: Directory) -> None:
    rows = parse_reference_rows("registry", read_registry_rows(_config(directory)))
    assert [r["license_no"] for r in rows] == ["110330000001", "110330000003", "210330000002"]
    zhang, wang, li = rows
    assert zhang["name"] == "张伟" and zhang["valid_to"] == "2031-12-31"
    assert zhang["multi_site_institution_codes"] == ["H3301000002", "H3301000007"]
    assert zhang["departments"] == ["CARDIOLOGY", "ENDOCRINOLOGY"]
    assert wang["status"] == "suspended" and wang["valid_from"] == "2016-03-01"  # GeneralizedTime
    assert li["role"] == "pharmacist" and li["valid_to"] is None


def test_a_wrong_password_and_a_bad_map_are_refused_clearly(directory: Directory) -> None:
    with pytest.raises(RegistrySyncError, match=r"cannot bind .* invalidCredentials"):
        read_registry_rows(_config(directory, password="wrong"))
    with pytest.raises(RegistrySyncError, match="passwords would cross the network in clear"):
        read_registry_rows(_config(directory, url="ldap://ldap.example.org"))
    with pytest.raises(RegistrySyncError, match="'speciality=ou'"):
        attribute_map(["speciality=ou"])


def test_a_mapped_attribute_that_is_missing_rejects_the_sync_naming_the_entry(
    directory: Directory,
) -> None:
    mapping = attribute_map(["role=title"])  # no entry has a title
    raw = read_registry_rows(_config(directory, attributes=mapping))
    with pytest.raises(ReferenceFileError) as caught:
        parse_reference_rows("registry", raw)
    assert f"dn uid=lina,ou=providers,{BASE} (role): required" in {
        str(p) for p in caught.value.problems
    }


def test_sync_ldap_imports_the_registry_once(
    directory: Directory, tmp_path: Path, database_url: str
) -> None:
    password_file = tmp_path / "reader.password"
    password_file.write_text(READER_PASSWORD + "\n")
    env = {
        "CARELEDGER_DATA_DIR": str(tmp_path / "var"),
        "CARELEDGER_DATABASE_URL": database_url,
        "CARELEDGER_REGISTRY_LDAP_URL": directory.url,
        "CARELEDGER_REGISTRY_LDAP_BASE": f"ou=providers,{BASE}",
        "CARELEDGER_REGISTRY_LDAP_BIND_DN": f"cn=registry-reader,{BASE}",
        "CARELEDGER_REGISTRY_LDAP_PASSWORD_FILE": str(password_file),
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    first = runner.invoke(cli, ["reference", "sync-ldap"], env=env)
    assert first.exit_code == 0, first.output
    assert "registry: version" in first.output and "(3 rows) in force" in first.output
    again = runner.invoke(cli, ["reference", "sync-ldap"], env=env)
    assert "already in force; nothing appended" in again.output
    wrong = runner.invoke(
        cli,
        ["reference", "sync-ldap"],
        env={**env, "CARELEDGER_REGISTRY_LDAP_BASE": "ou=nowhere," + BASE},
    )
    assert wrong.exit_code == 1 and "noSuchObject" in wrong.output
