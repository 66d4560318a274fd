"""Supervisors upload reference data and edit the policy in the portal; both are versions in
the ledger, a bad file is refused whole with its problems located, and versions can be
compared."""

from __future__ import annotations

import html
import io
import re

from flask.testing import FlaskClient

from supervisor.runtime.services import Services

from .agency_directory import directory
from .test_portal_records import province_portal
from .test_portal_sign_in import _csrf, _sign_in

__all__ = ["directory", "province_portal"]  # the fixtures, shared

DRUGS_HEADER = "drug_code,drug_name,category,online_prescribable,max_days_supply\n"


def _upload(client: FlaskClient, dataset: str, content: str) -> tuple[int, str]:
    token = _csrf(client.get("/portal/reference").data)
    answer = client.post(
        "/portal/reference/upload",
        data={
            "csrf_token": token,
            "dataset": dataset,
            "file": (io.BytesIO(content.encode()), "drugs.csv"),
        },
        content_type="multipart/form-data",
    )
    return answer.status_code, answer.get_data(as_text=True)


def test_supervisors_manage_reference_data_and_policy(
    province_portal: tuple[FlaskClient, FlaskClient, Services],
) -> None:
    client, regulator, services = province_portal
    assert _sign_in(regulator, "wangjing", "jing-password-1")[0] == 302
    assert regulator.get("/portal/reference").status_code == 403  # a regulator, not a supervisor
    assert _sign_in(client, "liqiang", "qiang-password-2")[0] == 302
    before = services.reference.current_versions()
    status, page = _upload(client, "drugs", DRUGS_HEADER + "N1,吗啡,opium,false,\n")
    assert status == 422 and "文件已整体退回，现行版本保持不变" in page
    # Where and what, in the reader's language: the column by its name, the choices listed.
    assert "第 2 行第 3 列 (类别): 'opium' 不是可选值之一：otc, rx" in html.unescape(page)
    client.get("/portal/language?to=en")
    status, page = _upload(client, "drugs", DRUGS_HEADER + "N1,吗啡,opium,false,\n")
    assert status == 422
    assert "line 2, column 3 (Category): 'opium' is not one of otc, rx" in html.unescape(page)
    client.get("/portal/language?to=zh_Hans_CN")
    assert services.reference.current_versions() == before
    current = services.reference.rows(before["drugs"].entry_index)
    kept = [r for r in current if r["drug_code"] != "XN02AAM"]
    lines = [DRUGS_HEADER.strip()] + [
        f"{r['drug_code']},{r['drug_name']},{r['category']},"
        f"{'true' if r['online_prescribable'] else 'false'},{r['max_days_supply'] or ''}"
        for r in kept
    ]
    status, page = _upload(client, "drugs", "\n".join(lines) + "\n")
    assert status == 200 and f"已导入 {len(kept)} 行" in page
    after = services.reference.current_versions()["drugs"]
    assert after.entry_index > before["drugs"].entry_index and after.source == "portal:liqiang"
    status, page = _upload(client, "drugs", "\n".join(lines) + "\n")
    assert "该版本已在使用中" in page
    diff = client.get(f"/portal/reference/{after.entry_index}/diff").get_data(as_text=True)
    assert "删除 (1)" in diff and "XN02AAM" in diff and "新增 (0)" in diff
    # The policy: edited as text, checked, a new version; a broken one changes nothing.
    form = client.get("/portal/reference").get_data(as_text=True)
    text = re.search(r'<textarea id="policy" name="policy"[^>]*>(.*?)</textarea>', form, re.S)
    assert text

    policy = html.unescape(text.group(1))
    changed = policy.replace("late_after_hours = 24", "late_after_hours = 48")
    token = _csrf(form.encode())
    answer = client.post("/portal/reference/policy", data={"csrf_token": token, "policy": changed})
    assert answer.status_code == 200 and "监管政策" in answer.get_data(as_text=True)
    _, policy_now = services.reference.snapshot()
    assert policy_now.late_after.total_seconds() == 48 * 3600
    broken = client.post(
        "/portal/reference/policy",
        data={"csrf_token": token, "policy": changed.replace("= 48", '= "48"')},
    )
    assert broken.status_code == 422 and "late_after_hours must be an integer" in broken.get_data(
        as_text=True
    )
    assert services.reference.snapshot()[1].sha256 == policy_now.sha256
