"""Reports and schedules in the portal: list, download, verify, generate; jobs and their runs.

Reports carry no patient identities, so every role sees them; auditors verify
but do not generate. Only supervisors change schedules (each change is a
ledger entry, see ``supervisor.runtime.schedules``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from supervisor.database import tables
from supervisor.reporting.service import GENERATE_ROLES, KINDS, ReportError
from supervisor.reporting.sources import LedgerBasisError
from supervisor.reporting.verification import VERIFICATION_STEPS
from supervisor.runtime.schedules import JOBS, ScheduleError, cron_trigger
from supervisor.web.current import services
from supervisor.web.portal import portal
from supervisor.web.portal.context import portal_context
from supervisor.web.portal.jobs import JobRunningError, Progress
from supervisor.web.portal.schedule_words import cron_words
from supervisor.web.portal.sessions import PortalSession
from supervisor.web.portal.views import check_csrf, signed_in

_FILE_TYPES = {
    "pdf-zh": "application/pdf",
    "pdf-en": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def _reports_page(
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
    empty_period: tuple[str, str] | None = None,
) -> Any:
    kind = request.values.get("kind", "")
    period = request.values.get("period", "").strip()
    reports = services().reports.list(kind=kind if kind in KINDS else None, period=period or None)
    current: PortalSession = g.portal_session
    page = render_template(
        "portal/reports.html",
        reports=reports,
        kinds=KINDS,
        kind=kind,
        period=period,
        message=message,
        error=error,
        empty_period=empty_period,
        can_generate=bool(current.roles & GENERATE_ROLES),
    )
    return page, status


@portal.get("/reports")
@signed_in
def reports() -> Any:
    return _reports_page()


@portal.post("/reports/generate")
@signed_in
def report_generate() -> Any:
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if not current.roles & GENERATE_ROLES:
        abort(403, description=_("Auditors verify reports; they do not generate them."))
    kind = request.form.get("kind", "")
    period = request.form.get("period", "").strip()
    try:
        if request.form.get("confirm_empty") != "1" and not services().reports.period_has_records(
            kind, period
        ):
            return _reports_page(empty_period=(kind, period))
        generated = services().reports.generate(
            kind, period, requested_by=current.username, roles=tuple(sorted(current.roles))
        )
    except ReportError as refused:
        return _reports_page(error=str(refused), status=422)
    report = generated.report
    if generated.newly_published:
        message = _("Published %(id)s at ledger entry %(index)s.",
                    id=report.report_id, index=report.entry_index)  # fmt: skip
    else:
        message = _("%(id)s was already published at ledger entry %(index)s.",
                    id=report.report_id, index=report.entry_index)  # fmt: skip
    return _reports_page(message=message)


def _published(report_id: str) -> Any:
    report = services().reports.get(report_id)
    if report is None:
        abort(404, description=_("No such report."))
    return report


@portal.get("/reports/<report_id>/<file_kind>")
@signed_in
def report_file(report_id: str, file_kind: str) -> Any:
    if file_kind not in _FILE_TYPES:
        abort(404, description=_("No such report file."))
    report = _published(report_id)
    path = services().reports.file_path(report.report_id, file_kind)
    if not path.is_file():
        abort(
            404,
            description=_(
                "The file is not on this server. Generating the report again restores it if "
                "this version renders it byte for byte as published; otherwise restore the "
                "reports folder from a backup."
            ),
        )
    return send_file(
        path, mimetype=_FILE_TYPES[file_kind], as_attachment=True, download_name=path.name
    )


@portal.post("/reports/<report_id>/verify")
@signed_in
def report_verify(report_id: str) -> Any:
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    report = _published(report_id)
    path = services().reports.file_path(report.report_id, "pdf-zh")
    if not path.is_file():
        abort(
            404,
            description=_(
                "The file is not on this server. Generating the report again restores it if "
                "this version renders it byte for byte as published; otherwise restore the "
                "reports folder from a backup."
            ),
        )
    content = path.read_bytes()
    reports = services().reports

    def work(progress: Progress) -> dict[str, Any]:
        try:
            return reports.verify(content, progress).document()
        except LedgerBasisError as broken:  # the ledger itself no longer holds
            return {"report_id": report.report_id, "ok": False, "error": str(broken)}

    # Recomputing a month at a million records takes ~20 s: a job, with its progress on a
    # page, at most one per person at a time.
    try:
        job_id = portal_context().jobs.start(
            current.username, "report_verify", report.report_id, VERIFICATION_STEPS, work
        )
    except JobRunningError as running:
        job_id = running.job_id
    return redirect(url_for("portal.job", job_id=job_id), code=303)


def _check_names() -> dict[str, str]:
    return {
        "published": _("Published in the ledger"),
        "included": _("Publication entry proven in the log"),
        "checkpoint": _("Report's checkpoint signed and consistent"),
        "recomputed": _("Data recomputed from the ledger"),
    }


def _check_findings() -> dict[str, str]:
    """What each check found (``supervisor.reporting.verification``'s keys), in words."""
    return {
        "published": _(
            "A report.publication entry in the ledger names this file (SHA-256 "
            "%(hash)s)."
        ),
        "not_published": _(
            "No publication entry in the ledger names a file with SHA-256 %(hash)s:"
            " the file was altered, or was never published here."
        ),
        "included": _(
            "Publication entry %(index)s is included in the log's signed checkpoint"
            " of size %(size)s."
        ),
        "not_included": _("Publication entry %(index)s is not proven in the log."),
        "checkpoint_holds": _(
            "The report's checkpoint (size %(size)s, root %(root)s…) is signed by "
            "the log and consistent with the log today (size %(head)s)."
        ),
        "checkpoint_broken": _("The report's checkpoint does not hold against the log today."),
        "recomputed_same": _(
            "Recomputed from the ledger at size %(size)s: data SHA-256 %(hash)s, "
            "the same as published."
        ),
        "recomputed_differs": _(
            "Recomputed from the ledger at size %(size)s: data SHA-256 %(hash)s "
            "differs from the published %(published)s."
        ),
        "basis_broken": _(
            "The ledger at size %(size)s no longer holds what the report was "
            "computed from."
        ),
    }  # fmt: skip


def _said(check: dict[str, Any], findings: dict[str, str]) -> str:
    template = findings.get(check.get("key") or "")
    if template is None:
        return ""  # a result kept from before checks had keys: the detail says it
    try:
        return str(template % check.get("params", {}))
    except (KeyError, TypeError, ValueError):
        return ""


@portal.get("/jobs/<job_id>")
@signed_in
def job(job_id: str) -> Any:
    """A job's progress (the page refreshes itself), then its result."""
    current: PortalSession = g.portal_session
    found = portal_context().jobs.get(job_id, current.username)
    if found is None:
        abort(404, description=_("There is no such job of yours."))
    check_names = _check_names()
    if not found.finished or found.result is None or "checks" not in found.result:
        return render_template("portal/job.html", job=found, step_names=check_names)
    report = _published(found.subject)
    return render_template(
        "portal/report_verification.html",
        report=report,
        result=found.result,
        check_names=check_names,
        said={c["name"]: _said(c, _check_findings()) for c in found.result["checks"]},
    )


# -- schedules -----------------------------------------------------------------


def _next_runs() -> dict[str, datetime]:
    """Next run times as the scheduler stored them (read, never through a second scheduler,
    which would run due jobs itself)."""
    jobs = tables.apscheduler_jobs
    with services().engine.connect() as connection:
        rows = connection.execute(select(jobs.c.id, jobs.c.next_run_time)).all()
    return {
        str(job_id): datetime.fromtimestamp(float(at), UTC) for job_id, at in rows if at is not None
    }


def _latest_runs(limit: int = 60) -> list[Any]:
    with services().engine.connect() as connection:
        return list(
            connection.execute(
                select(tables.job_runs).order_by(tables.job_runs.c.id.desc()).limit(limit)
            )
        )


def _run_status_names() -> dict[str, str]:
    """A job run's status (``job_runs.status``, set by the scheduler) as people read it."""
    return {
        "running": _("running"),
        "ok": _("succeeded"),
        "retrying": _("failed, will retry"),
        "failed": _("failed"),
        "interrupted": _("interrupted"),
    }


def _schedules_page(
    message: str | None = None, error: str | None = None, status: int = 200, detail: str = ""
) -> Any:
    current: PortalSession = g.portal_session
    schedules = services().schedules.current()
    runs = _latest_runs()
    latest: dict[str, Any] = {}
    for run in runs:  # newest first: the first seen per job is its latest attempt
        latest.setdefault(run.job_id, run)
    holder = None
    with services().engine.connect() as connection:
        row = connection.execute(select(tables.scheduler_lease)).first()
        if row is not None:
            holder = (row.holder, tables.read_time(row.expires_at))
    page = render_template(
        "portal/schedules.html",
        schedules=schedules,
        next_runs=_next_runs(),
        runs=runs,
        latest=latest,
        holder=holder,
        now=datetime.now(UTC),
        message=message,
        error=error,
        can_edit="supervisor" in current.roles,
        read_time=tables.read_time,
        run_status_names=_run_status_names(),
        cron_words=lambda expression: cron_words(expression, _),
        error_detail=detail,
    )
    return page, status


@portal.get("/schedules")
@signed_in
def schedules() -> Any:
    return _schedules_page()


@portal.post("/schedules/<job_id>")
@signed_in
def schedule_change(job_id: str) -> Any:
    current: PortalSession = g.portal_session
    check_csrf(current.csrf_token)
    if "supervisor" not in current.roles:
        abort(403, description=_("Only supervisors change schedules."))
    if job_id not in JOBS:
        abort(404, description=_("No such job."))
    if JOBS[job_id].default_cron is None:
        return _schedules_page(
            error=_("This job runs at a fixed interval; its schedule cannot be changed."),
            status=422,
        )
    cron = request.form.get("cron", "")
    try:
        cron_trigger(" ".join(cron.split()))
    except ScheduleError as refused:
        return _schedules_page(
            error=_(
                "%(cron)s is not a schedule the scheduler can run. Give five fields in China "
                "time, minute hour day month weekday: for example 30 0 * * * is 00:30 every "
                "day, 0 2 1 * * is 02:00 on the first of every month.",
                cron=cron[:64] or "—",
            ),
            detail=str(refused),
            status=422,
        )
    service = services().schedules
    try:
        index = service.change(
            job_id,
            request.form.get("cron", ""),
            username=current.username,
            roles=current.roles,
            reason=request.form.get("reason", ""),
        )
    except ScheduleError as refused:
        return _schedules_page(error=str(refused), status=422)
    return _schedules_page(
        message=_("Schedule changed; recorded at ledger entry %(index)s. The running scheduler "
                  "applies it within seconds.", index=index)
    )  # fmt: skip
