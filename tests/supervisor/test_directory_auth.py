"""Regulators' sign-in against a real OpenLDAP (slapd on loopback, ppolicy for locked accounts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from supervisor.directory_auth import (
    DirectoryError,
    DirectoryLogin,
    LoginDirectory,
    LoginRefusedError,
    user_filter,
)
from tests.slapd import Directory, running_slapd

BASE = "dc=wsjkw,dc=zj,dc=gov,dc=cn"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
SERVICE_PASSWORD = "portal-reader-secret"


def _person(uid: str, cn: str, password: str, extra: str = "") -> str:
    return (
        f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\n"
        f"sn: {cn[0]}\ndisplayName: {cn}\nuserPassword: {password}\n{extra}\n"
    )


def _group(name: str, *members: str) -> str:
    lines = "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
    return f"dn: cn={name},{GROUPS}\nobjectClass: groupOfNames\ncn: {name}\n{lines}\n"


SEED = (
    f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: wsjkw\n"
    "o: 浙江省卫生健康委员会\n\n"
    f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n"
    f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n"
    f"dn: ou=policies,{BASE}\nobjectClass: organizationalUnit\nou: policies\n\n"
    f"dn: cn=default,ou=policies,{BASE}\nobjectClass: pwdPolicy\nobjectClass: person\n"
    "cn: default\nsn: policy\npwdAttribute: userPassword\npwdLockout: TRUE\n"
    "pwdMaxFailure: 5\n\n"
    f"dn: cn=portal-reader,{BASE}\nobjectClass: simpleSecurityObject\n"
    f"objectClass: organizationalRole\ncn: portal-reader\nuserPassword: {SERVICE_PASSWORD}\n\n"
    + _person("wangjing", "王静", "jing-password-1")
    + _person("liqiang", "李强", "qiang-password-2")
    + _person("zhaomin", "赵敏", "min-password-3")
    + _person("chenlei", "陈磊", "lei-password-4", "pwdAccountLockedTime: 000001010000Z\n")
    + _person("nobody", "无角色", "nobody-password-5")
    + _group("careledger-regulators", "wangjing", "liqiang", "chenlei")
    + _group("careledger-supervisors", "liqiang")
    + _group("careledger-auditors", "zhaomin")
)

PPOLICY = f"""
dn: olcOverlay=ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: ppolicy
olcPPolicyDefault: cn=default,ou=policies,{BASE}
"""


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    with running_slapd(
        tmp_path_factory.mktemp("slapd"),
        BASE,
        SEED,
        modules=("back_mdb", "ppolicy"),
        extra_config=PPOLICY,
    ) as served:
        yield served


def _login(directory: Directory, **changes: object) -> LoginDirectory:
    values: dict[str, object] = {
        "url": directory.url,
        "users_base": PEOPLE,
        "service_dn": f"cn=portal-reader,{BASE}",
        "service_password": SERVICE_PASSWORD,
        "role_groups": {
            "regulator": f"cn=careledger-regulators,{GROUPS}",
            "supervisor": f"cn=careledger-supervisors,{GROUPS}",
            "auditor": f"cn=careledger-auditors,{GROUPS}",
        },
    }
    values.update(changes)
    return LoginDirectory(DirectoryLogin(**values))  # type: ignore[arg-type]


def test_people_get_the_roles_of_their_groups(directory: Directory) -> None:
    login = _login(directory)
    wang = login.authenticate("wangjing", "jing-password-1")
    assert wang.dn == f"uid=wangjing,{PEOPLE}" and wang.display_name == "王静"
    assert wang.roles == {"regulator"}
    assert login.authenticate("liqiang", "qiang-password-2").roles == {"regulator", "supervisor"}
    assert login.authenticate(" zhaomin ", "min-password-3").roles == {"auditor"}


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("wangjing", "wrong", "invalidCredentials"),
        ("chenlei", "lei-password-4", "invalidCredentials"),  # locked by ppolicy
        ("nobody", "nobody-password-5", "in none of the careledger role groups"),
        ("ghost", "anything", "0 directory entries"),
        ("*", "jing-password-1", "0 directory entries"),  # no wildcard search
        ("wangjing)(uid=*", "jing-password-1", "0 directory entries"),  # no filter injection
        ("wangjing", "", "empty password"),  # an unauthenticated bind would succeed
        ("", "x", "malformed"),
        ("wang\x00jing", "x", "malformed"),
    ],
)
def test_sign_in_is_refused_without_saying_why(
    directory: Directory, username: str, password: str, reason: str
) -> None:
    with pytest.raises(LoginRefusedError) as refused:
        _login(directory).authenticate(username, password)
    assert reason in refused.value.reason
    assert str(refused.value) == (
        "the user name or password is not correct, or the account may not sign in"
    )


def test_the_filter_escapes_what_the_person_typed() -> None:
    assert user_filter("(uid={username})", "a*)(uid=*") == "(uid=a\\2a\\29\\28uid=\\2a)"


def test_directory_problems_are_not_refusals(directory: Directory) -> None:
    with pytest.raises(DirectoryError, match="service account cannot bind"):
        _login(directory, service_password="wrong").authenticate("wangjing", "jing-password-1")
    with pytest.raises(DirectoryError, match="loopback only"):
        _login(directory, url="ldap://ldap.wsjkw.example")
    with pytest.raises(DirectoryError, match="unknown roles admin"):
        _login(directory, role_groups={"admin": GROUPS})
