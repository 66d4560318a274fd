"""The agency directory the portal tests sign in with: people, role groups, a locked account
(ppolicy), someone with no role; served by a real slapd on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
