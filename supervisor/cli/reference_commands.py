"""``careledger reference ...``: import the registry, catalogues and policy as ledger entries."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from inspectors.reference import DATASETS
from inspectors.reference_files import parse_reference_csv, parse_reference_rows
from supervisor.cli import CliContext
from supervisor.inspection.reference_data import POLICY, ImportResult
from supervisor.inspection.registry_sync import (
    DirectoryConfig,
    RegistrySyncError,
    attribute_map,
    read_password,
    read_registry_rows,
)
from supervisor.runtime.services import build_services


@click.group()
def reference() -> None:
    """Reference data: practitioner registry, price and drug catalogues, inspection policy."""


def _report(result: ImportResult) -> None:
    if result.unchanged:
        click.echo(
            f"{result.dataset}: version {result.version} is already in force; nothing appended"
        )
    else:
        click.echo(
            f"{result.dataset}: version {result.version} ({result.row_count} rows) in force "
            f"from ledger entry {result.entry_index}"
        )


@reference.command("import")
@click.argument("dataset", type=click.Choice([*DATASETS, POLICY]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_file(context: CliContext, dataset: str, file: Path) -> None:
    """Import FILE (CSV; TOML for the policy) as the new version of DATASET.

    A file with any problem is rejected whole, every problem listed with its
    line and column, and the version in force stays.
    """
    services = context.services()
    try:
        source = f"file:{file.name} by {getpass.getuser()}"
        content = file.read_bytes()
        if dataset == POLICY:
            result = services.reference.import_policy(content, source=source, now=context.now())
        else:
            rows = parse_reference_csv(dataset, content)
            result = services.reference.import_rows(dataset, rows, source=source, now=context.now())
        _report(result)
    finally:
        services.engine.dispose()


@reference.command("list")
@click.option("--dataset", type=click.Choice([*DATASETS, POLICY]))
@click.pass_obj
def list_versions(context: CliContext, dataset: str | None) -> None:
    """Every version imported, oldest first; the last of each dataset is in force."""
    services = context.services()
    try:
        for v in services.reference.history(dataset):
            click.echo(
                f"{v.entry_index:>10}  {v.dataset:<8}  {v.version}  {v.row_count:>7} rows  "
                f"{v.imported_at:%Y-%m-%d %H:%M}  {v.source}"
            )
    finally:
        services.engine.dispose()


@reference.command("sync-ldap")
@click.pass_obj
def sync_ldap(context: CliContext) -> None:
    """Read the practitioner registry from the provider directory (registry_ldap_* settings)
    and import it as the new version when it changed."""
    settings = context.settings
    if not settings.registry_ldap_url or not settings.registry_ldap_base:
        raise RegistrySyncError(
            "set registry_ldap_url and registry_ldap_base (and registry_ldap_bind_dn, "
            "registry_ldap_password_file) in the configuration first"
        )
    config = DirectoryConfig(
        url=settings.registry_ldap_url,
        base_dn=settings.registry_ldap_base,
        bind_dn=settings.registry_ldap_bind_dn,
        password=read_password(settings.registry_ldap_password_file),
        search_filter=settings.registry_ldap_filter,
        attributes=attribute_map(settings.registry_ldap_attributes),
    )
    rows = parse_reference_rows("registry", read_registry_rows(config))
    services = build_services(settings)
    try:
        source = f"ldap:{settings.registry_ldap_url}/{settings.registry_ldap_base}"
        _report(services.reference.import_rows("registry", rows, source=source, now=context.now()))
    finally:
        services.engine.dispose()
