"""Reports over a real ledger: a labelled province submitted, inspected and triaged, then an
assessment and a digest generated, read back from their PDFs, regenerated and verified, and
verification made to fail by altering one record behind a report or one byte of its PDF."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select, update

from ledger import schema as ledger_schema
from ledger.canonical import canonical_json
from ledger.integrity import verify_stored_log
from reports import labels
from reports.methodology import load_methodology, methodology_version
from reports.spreadsheet import read_table
from supervisor.cli import cli
from supervisor.config import Settings
from supervisor.custody.data_folder import initialise
from supervisor.custody.payload_keys import SALT_SIZE
from supervisor.database import tables
from supervisor.demo.province import generate_province
from supervisor.demo.province_files import ReplayClock, load_province, write_province
from supervisor.inspection.findings_export import findings, write_findings
from supervisor.reporting.service import Generated, ReportError
from supervisor.runtime.projections import rebuild_projections
from supervisor.runtime.services import Services, build_services
from tests.conftest import empty_database
from tests.reports.test_times_and_headers import NOT_CHINA_TIME
from tests.tampering import take_down_ledger_guards

pytestmark = pytest.mark.database

PROVINCE = {
    "institutions": 4,
    "days": 3,
    "seed": 7,
    "violation_rate": 0.3,
    "end": date(2026, 11, 20),
}


@dataclass
class World:
    settings: Settings
    services: Services
    assessment: Generated
    digest: Generated
    config: Path

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])


def _config(settings: Settings, path: Path) -> Path:
    path.write_text(
        f'data_dir = "{settings.data_dir}"\ndatabase_url = "{settings.database_url}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("reports")
    urls = empty_database(request.param, root)
    url = next(urls)
    folder = root / "province"
    write_province(generate_province(**PROVINCE), folder)  # type: ignore[arg-type]
    settings = Settings(data_dir=root / "var", database_url=url)
    verifier = initialise(settings).log_verifier
    services = build_services(settings)

    def follow(clock: ReplayClock) -> None:
        services.inspector.clock = clock
        services.inspector.follow_once()

    loaded = load_province(folder, settings, after_batch=follow)
    later = loaded.ended_at + timedelta(days=4)
    services.inspector.clock = lambda: later
    services.inspector.follow()
    _triage(services, loaded.ended_at)
    assessment = services.reports.generate("assessment", "2026-11", requested_by="test")
    digest = services.reports.generate("digest", "2026-11-19", requested_by="test")
    yield World(settings, services, assessment, digest, _config(settings, root / "c.toml"))
    assert verifier is not None
    result = verify_stored_log(services.engine, verifier)
    assert result.ok, result.discrepancy
    services.engine.dispose()
    for _ in urls:  # drop the PostgreSQL schema
        pass


def _triage(services: Services, at: datetime) -> None:
    """Order rectification of two findings on hospitals' records and resolve one: the
    rectification indicators (v1's, which rate hospitals; pharmacies are rated by v3)."""
    f, r = tables.findings.c, tables.records.c
    with services.engine.connect() as connection:
        ids = list(
            connection.execute(
                select(f.finding_id)
                .join(tables.records, r.entry_index == f.record_index)
                .where(r.record_type.in_(("consultation", "prescription", "charge")))
                .order_by(f.entry_index)
            ).scalars()
        )[:2]
    services.triage.clock = lambda: at
    roles = frozenset({"regulator"})
    for finding_id in ids:
        services.triage.act(
            finding_id,
            "order_rectification",
            username="li.wei",
            roles=roles,
            deadline=at.date() + timedelta(days=10),
        )
    services.triage.clock = lambda: at + timedelta(days=2)
    services.triage.act(ids[0], "resolve", username="li.wei", roles=roles)


def _entry_statement(services: Services, index: int) -> dict[str, Any]:
    return orjson.loads(services.store.entry(index).leaf)["statement"]  # type: ignore[no-any-return]


def _text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_a_report_states_what_it_was_computed_from_and_is_published(world: World) -> None:
    services, published = world.services, world.assessment.report
    statement = _entry_statement(services, published.entry_index)
    assert services.store.entry(published.entry_index).type == "report.publication"
    data_bytes = services.reports.file_path(published.report_id, "json").read_bytes()
    data = orjson.loads(data_bytes)
    # The checkpoint the report names is a real signed checkpoint of the log.
    checkpoint = services.store.checkpoint_at(statement["tree_size"])
    assert checkpoint is not None
    assert data["basis"]["checkpoint"] == checkpoint.note
    assert data["basis"]["root_hash"] == statement["root_hash"] == checkpoint.checkpoint.root.hex()
    assert statement["tree_size"] < published.entry_index + 1
    # Reference versions and methodology: as in force at the checkpoint, hash of the file.
    in_force = {v.dataset: v.version for v in services.reference.current_versions().values()}
    assert data["basis"]["reference_versions"] == statement["reference_versions"] == in_force
    assert statement["methodology_sha256"] == load_methodology().sha256
    assert data["basis"]["methodology"]["sha256"] == load_methodology().sha256
    # Every file is named by its hash; the data file is canonical JSON.
    assert statement["data_sha256"] == sha256(data_bytes).hexdigest()
    assert canonical_json(data) == data_bytes
    for language in ("zh", "en"):
        pdf = services.reports.file_path(published.report_id, f"pdf-{language}").read_bytes()
        assert statement["pdf_sha256"][language] == sha256(pdf).hexdigest()
    csv_bytes = services.reports.file_path(published.report_id, "csv").read_bytes()
    assert statement["csv_sha256"] == sha256(csv_bytes).hexdigest()
    # Who asked is sealed, not in the public leaf.
    assert "test" not in orjson.dumps(statement).decode()
    assert published.requested_by == "test"


def test_the_assessment_covers_every_institution_with_the_indicators(world: World) -> None:
    # Under assessment-v1 (still selectable): its rectification indicators count the
    # finding actions of the triage above; v2 is tested in tests/reports.
    v1 = methodology_version("assessment-v1")
    data = world.services.reports.compute("assessment", "2026-11", methodology=v1).data.document
    institutions = data["assessment"]["institutions"]
    assert len(institutions) == PROVINCE["institutions"]
    indicator_ids = {spec.id for spec in v1.indicators}
    for item in institutions:
        assert {i["id"] for i in item["indicators"]} == indicator_ids
    assert sum(i["volume"]["consultation"] for i in institutions) > 100
    ranked = [i for i in institutions if i["ranked"]]
    assert ranked and [i["rank"] for i in ranked] == sorted(i["rank"] for i in ranked)
    # The triage above: two rectifications ordered, one resolved, somewhere in the province.
    ordered = sum(
        int(i["denominator"])
        for item in institutions
        for i in item["indicators"]
        if i["id"] == "rectification_rate"
    )
    assert ordered == 2


def test_the_pdf_reads_back_in_chinese_with_the_numbers_and_an_embedded_font(
    world: World,
) -> None:
    published = world.assessment.report
    reports = world.services.reports
    data = orjson.loads(reports.file_path(published.report_id, "json").read_bytes())
    pdf = reports.file_path(published.report_id, "pdf-zh").read_bytes()
    pages = _text(pdf)
    institutions = data["assessment"]["institutions"]
    # Cover, summary, ranking, methodology, then one page per institution; then the
    # pharmacies' summary, ranking and methodology, and a page (or more) per pharmacy.
    pharmacies = data["assessment"]["pharmacy_assessment"]["pharmacies"]
    assert "药店考核总体情况" in pages[4 + len(institutions)]
    assert len(pages) >= 4 + len(institutions) + 3 + len(pharmacies)
    assert "互联网医院绩效考核报告" in pages[0] and "2026-11" in pages[0]
    assert str(published.tree_size) in pages[0] and published.root_hash in pages[0]
    assert "总体情况" in pages[1] and "综合排名" in pages[2] and "考核指标" in pages[3]
    assert "药师审方率" in pages[3] and "在线复诊合规率" in pages[3]
    for item in institutions:
        assert item["name"] in pages[2]
        if item["score"] is not None:
            assert item["score"] in pages[2]
    detail = next(p for p in pages[4:] if institutions[0]["name"] in p)
    assert "机构考核明细" in detail and "全省中位数" in detail
    assert all(f"共 {len(pages)} 页" in page for page in pages)
    assert all(f"#{published.tree_size}" in page for page in pages)
    fonts = _embedded_fonts(pdf)
    assert fonts and all(embedded for embedded in fonts.values()), fonts
    english = _text(reports.file_path(published.report_id, "pdf-en").read_bytes())
    assert "Internet hospital performance assessment" in english[0]
    assert "Pharmacist review rate" in english[3]


def _embedded_fonts(pdf: bytes) -> dict[str, bool]:
    """Base font name -> whether its program is embedded, over every page."""
    fonts: dict[str, bool] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page.get("/Resources")
        assert resources is not None
        for reference in (resources.get_object().get("/Font") or {}).values():
            font = reference.get_object()
            descendants = font.get("/DescendantFonts")
            target = descendants[0].get_object() if descendants else font
            descriptor = target.get("/FontDescriptor")
            embedded = descriptor is not None and any(
                key in descriptor.get_object() for key in ("/FontFile", "/FontFile2", "/FontFile3")
            )
            fonts[str(font["/BaseFont"])] = embedded
    return fonts


def test_the_digest_reads_back_with_its_sections(world: World) -> None:
    published = world.digest.report
    reports = world.services.reports
    data = orjson.loads(reports.file_path(published.report_id, "json").read_bytes())
    text = "\n".join(_text(reports.file_path(published.report_id, "pdf-zh").read_bytes()))
    assert "互联网诊疗智能监管简报" in text and "2026-11-19" in text
    for heading in ("新发现问题", "按规则", "重点风险", "逾期未整改", "异常情况", "与上期相比"):
        assert heading in text
    new = data["digest"]["new_findings"]
    assert new["total"] > 0
    for rule in new["by_rule"]:
        assert rule in text


def test_regenerating_a_past_report_gives_byte_identical_exports(
    world: World, tmp_path: Path
) -> None:
    published = world.assessment.report
    # The ledger has grown since (the digest's publication, at least).
    assert world.services.store.head().size > published.tree_size
    result = world.cli(
        "report",
        "generate",
        "--kind",
        "assessment",
        "--period",
        "2026-11",
        "--at",
        str(published.tree_size),
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert f"already published at entry {published.entry_index}" in result.output
    reports = world.services.reports
    for file_kind in ("json", "csv", "pdf-zh", "pdf-en"):
        name = reports.file_names(published.report_id)[file_kind]
        assert (tmp_path / name).read_bytes() == reports.file_path(
            published.report_id, file_kind
        ).read_bytes(), file_kind


def test_report_verify_passes_on_an_honest_report(world: World) -> None:
    reports = world.services.reports
    for generated in (world.assessment, world.digest):
        for file_kind in ("pdf-zh", "pdf-en", "json"):
            path = reports.file_path(generated.report.report_id, file_kind)
            result = world.cli("report", "verify", str(path))
            assert result.exit_code == 0, result.output
            assert "FAIL" not in result.output
            for check in ("published", "included", "checkpoint", "recomputed"):
                assert f"ok   {check}" in result.output


def test_report_verify_fails_on_an_edited_pdf(world: World, tmp_path: Path) -> None:
    pdf = world.services.reports.file_path(world.assessment.report.report_id, "pdf-zh")
    edited = bytearray(pdf.read_bytes())
    edited[len(edited) // 2] ^= 0x01
    (tmp_path / "edited.pdf").write_bytes(bytes(edited))
    result = world.cli("report", "verify", str(tmp_path / "edited.pdf"))
    assert result.exit_code == 1
    assert "FAIL published" in result.output and "does not verify" in result.output


def _first_record_in(world: World, size: int) -> tuple[int, bytes, bytes]:
    e = ledger_schema.entries.c
    with world.services.engine.connect() as connection:
        row = connection.execute(
            select(e.idx, e.leaf, e.payload)
            .where(e.type == "record.prescription", e.idx < size)
            .order_by(e.idx.desc())
            .limit(1)
        ).one()
    return int(row.idx), bytes(row.leaf), bytes(row.payload)


def _set_entry(world: World, index: int, **values: bytes) -> None:
    e = ledger_schema.entries
    with world.services.engine.begin() as connection:
        take_down_ledger_guards(connection)
        connection.execute(update(e).where(e.c.idx == index).values(**values))


def test_report_verify_fails_when_a_record_behind_it_is_altered(world: World) -> None:
    published = world.assessment.report
    pdf = world.services.reports.file_path(published.report_id, "pdf-zh")
    index, leaf, payload = _first_record_in(world, published.tree_size)
    keys = world.services.keys
    plaintext = keys.open(payload)
    record = orjson.loads(plaintext[SALT_SIZE:])
    record["items"][0]["unit_price"] = "0.01"  # a cheaper prescription, re-sealed properly
    forged = keys.seal(
        "prescription",
        datetime.fromisoformat(record["occurred_at"]),
        plaintext[:SALT_SIZE] + canonical_json(record),
    )
    try:
        _set_entry(world, index, payload=forged)
        result = world.cli("report", "verify", str(pdf))
        assert result.exit_code == 1
        assert "FAIL recomputed" in result.output
        assert f"entry {index}: its payload does not match the commitment" in result.output
        # Rewriting the leaf to match instead breaks the hash chain at the next entry.
        statement = orjson.loads(leaf)
        statement["statement"]["commitment"] = sha256(keys.open(forged)).hexdigest()
        _set_entry(world, index, leaf=canonical_json(statement))
        result = world.cli("report", "verify", str(pdf))
        assert result.exit_code == 1 and "FAIL" in result.output
    finally:
        _set_entry(world, index, payload=payload, leaf=leaf)
    assert world.cli("report", "verify", str(pdf)).exit_code == 0


def test_a_report_is_computed_from_the_ledger_not_the_editable_projections(
    world: World,
) -> None:
    """Deleting search rows changes nothing: the report reads only entries."""
    published = world.assessment.report
    with world.services.engine.begin() as connection:
        saved = connection.execute(select(tables.records)).mappings().all()
        connection.execute(tables.records.delete())
    try:
        computed = world.services.reports.compute(
            "assessment", "2026-11", at_size=published.tree_size
        )
        assert computed.data.data_sha256 == published.data_sha256
    finally:
        with world.services.engine.begin() as connection:
            connection.execute(tables.records.insert(), [dict(r) for r in saved])


def test_published_reports_are_rebuilt_from_the_ledger(world: World) -> None:
    services = world.services
    before = [r.report_id for r in services.reports.list()]
    rebuild_projections(services.engine, services.keys, lambda last: last + 1)
    after = services.reports.list()
    assert [r.report_id for r in after] == before
    assert {r.requested_by for r in after} == {"test"}


@pytest.mark.parametrize(
    ("kind", "period", "message"),
    [
        ("assessment", "2026-13", "2026-13"),
        ("assessment", "2026-11-19", "covers a month or quarter, not a day"),
        ("digest", "2026-Q4", "covers a day or month, not a quarter"),
        ("ranking", "2026-11", "unknown report kind"),
    ],
)
def test_a_bad_period_or_kind_is_refused_with_a_reason(
    world: World, kind: str, period: str, message: str
) -> None:
    with pytest.raises(ReportError, match=message):
        world.services.reports.compute(kind, period)


def test_the_cli_names_an_unknown_checkpoint(world: World) -> None:
    beyond = world.services.store.head().size + 10
    result = world.cli(
        "report", "generate", "--kind", "digest", "--period", "2026-11-19", "--at", str(beyond)
    )
    assert result.exit_code == 1
    assert f"no checkpoint was signed at tree size {beyond}" in result.output


def _dark_share(pgm: bytes) -> float:
    """Share of dark pixels in a binary PGM (P5) image."""
    magic, width, height, _, pixels = pgm.split(maxsplit=4)
    assert magic == b"P5"
    count = int(width) * int(height)
    return sum(1 for value in pixels[:count] if value < 128) / count


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_each_edition_renders_with_poppler_and_is_not_blank(world: World) -> None:
    """A second reader (poppler) draws the pages: the embedded font is usable, text is there.
    The PNG of each cover is kept beside the test for a look when the layout changes."""
    reports = world.services.reports
    report_id = world.assessment.report.report_id
    for language in ("zh", "en"):
        pdf = reports.file_path(report_id, f"pdf-{language}")
        for page in (1, 5):
            gray = subprocess.run(
                ["pdftoppm", "-r", "40", "-gray", "-f", str(page), "-l", str(page), str(pdf)],
                capture_output=True, check=True,
            ).stdout  # fmt: skip
            assert 0.003 < _dark_share(gray) < 0.3, (language, page)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
             str(pdf.with_suffix(""))],
            check=True,
        )  # fmt: skip
        assert pdf.with_suffix(".png").stat().st_size > 5_000


def test_every_edition_marks_its_period_in_china_time_and_prints_no_utc(world: World) -> None:
    reports = world.services.reports
    bounds = {
        "assessment": ("2026-11-01 00:00", "2026-12-01 00:00"),
        "digest": ("2026-11-19 00:00", "2026-11-20 00:00"),
    }
    for generated in (world.assessment, world.digest):
        report = generated.report
        start, end = bounds[report.kind]
        for language, zone in (("zh", "北京时间"), ("en", "CST")):
            pages = _text(reports.file_path(report.report_id, f"pdf-{language}").read_bytes())
            if language == "zh":
                assert f"北京时间 {start} 至 {end}（UTC+08:00）" in pages[0]
            else:
                assert f"{start} to {end} China Standard Time (UTC+08:00)" in pages[0]
            assert all(f"{report.period} {zone}" in page for page in pages), language
            assert not NOT_CHINA_TIME.search("\n".join(pages)), language
        rows = read_table(reports.file_path(report.report_id, "csv").read_text("utf-8-sig"))
        assert rows and {row["period"] for row in rows} == {report.period}


def test_the_findings_csv_names_columns_in_both_languages_and_times_in_china_time(
    world: World,
) -> None:
    services = world.services
    out = io.BytesIO()
    count = write_findings(findings(services.engine, services.keys), out, "csv")
    text = out.getvalue().decode("utf-8-sig")
    header = text.splitlines()[0]
    assert header.startswith("监管发现编号 / finding_id,规则 / rule,严重程度 / severity,")
    assert "发现时间（北京时间） / found_at" in header
    rows = read_table(text)
    f = tables.findings.c
    with services.engine.connect() as connection:
        found = {i: t for i, t in connection.execute(select(f.entry_index, f.found_at))}
    assert count == len(rows) == len(found) > 0
    for row in rows:
        assert row["found_at"].endswith("+08:00"), row["found_at"]
        stored = tables.read_time(found[int(row["entry_index"])])
        assert datetime.fromisoformat(row["found_at"]) == stored


def test_regenerating_never_replaces_a_published_file_with_one_rendered_differently(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PDF rendered since in another way (a newer careledger) does not verify: the data
    folder keeps the published one, which still does."""
    reports = world.services.reports
    published = world.assessment.report
    pdf = reports.file_path(published.report_id, "pdf-zh")
    before = pdf.read_bytes()
    monkeypatch.setitem(labels._LABELS, "authority", ("另一个机关", "Another authority"))
    again = reports.generate(
        "assessment", "2026-11", requested_by="test", at_size=published.tree_size
    )
    assert not again.newly_published
    assert sha256(again.computed.pdfs["zh"]).hexdigest() != published.pdf_sha256["zh"]
    assert pdf.read_bytes() == before
    assert sha256(before).hexdigest() == published.pdf_sha256["zh"]
    data = reports.file_path(published.report_id, "json").read_bytes()
    assert sha256(data).hexdigest() == published.data_sha256  # the data is the same, rewritten
    assert world.cli("report", "verify", str(pdf)).exit_code == 0


def test_a_published_file_that_cannot_be_rendered_again_is_named_for_restoring(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A published PDF lost from the data folder, that this version renders differently: the
    command says so and where, and neither the data folder nor --out gets a file that would
    not verify."""
    reports = world.services.reports
    published = world.assessment.report
    pdf = reports.file_path(published.report_id, "pdf-zh")
    pdf.unlink()
    monkeypatch.setitem(labels._LABELS, "authority", ("另一个机关", "Another authority"))
    out = tmp_path / "out"
    ran = world.cli(
        "report", "generate", "--kind", "assessment", "--period", "2026-11",
        "--at", str(published.tree_size), "--out", str(out),
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert f"warning: the published pdf-zh file is not at {pdf}" in ran.output
    assert "restore it from a backup" in ran.output
    assert f"warning: {pdf.name} is not written to {out}" in ran.output
    assert not pdf.exists() and not (out / pdf.name).exists()
    assert (out / f"{published.report_id}.json").exists()  # the data always matches
