"""Regulators' sign-in against a real OpenLDAP (slapd on loopback, ppolicy for locked accounts)."""

from __future__ import annotations

import pytest

from supervisor.web.directory_auth import (
    DirectoryError,
    DirectoryLogin,
    LoginDirectory,
    LoginRefusedError,
    user_filter,
)
from tests.slapd import Directory

from .agency_directory import BASE, GROUPS, PEOPLE, SERVICE_PASSWORD, directory

__all__ = ["directory"]  # the fixture, shared


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
