"""``trackerhub config import|export|versions|restore``: a valid file becomes the version in force and
export writes it back exactly; an invalid one is refused with its errors and nothing stored."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import main
from config.settings import DEFAULT_CONFIG, get_settings
from store import audit
from store import config_versions as store
from store.db import create_db_engine

EDITED = DEFAULT_CONFIG.read_text().replace("rules:", "# edited in git: <script>\nrules:", 1)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("HUB_CONFIG", raising=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*arguments: str) -> Result:
    return CliRunner().invoke(main, ["config", *arguments])


def test_an_imported_file_is_the_version_export_writes_exactly(database: str, tmp_path: Path) -> None:
    assert DEFAULT_CONFIG.read_text() != EDITED
    (tmp_path / "hub.yaml").write_text(EDITED, encoding="utf-8")
    imported = run("import", str(tmp_path / "hub.yaml"), "--comment", "from git")
    assert imported.exit_code == 0, imported.output
    version_id = int(imported.stdout)
    engine = create_db_engine(database)
    saved = store.get_version(engine, version_id)
    assert saved is not None and saved.text == EDITED
    assert (saved.author, saved.comment) == (f"cli:{getpass.getuser()}", "from git")
    exported = run("export")
    assert exported.exit_code == 0 and exported.stdout == EDITED  # the database's, not the file's
    [line] = audit.search(engine, audit.AuditQuery(action="config-import"))
    assert line.target == str(version_id)


def test_an_invalid_file_is_refused_with_its_errors_and_nothing_is_stored(
    database: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - name: broken\n    target: {tracker: jira}\n", encoding="utf-8")
    result = run("import", str(broken))
    assert result.exit_code == 1
    assert "rules[0] 'broken': target.project: Field required" in result.output
    assert store.list_versions(create_db_engine(database)) == []
    assert run("export").stdout == DEFAULT_CONFIG.read_text()  # the rule file is still in force


def test_versions_lists_newest_first_and_restore_puts_an_old_one_back(database: str, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(EDITED, encoding="utf-8")
    (tmp_path / "two.yaml").write_text(EDITED.replace("edited in git", "second edit"), encoding="utf-8")
    first = int(run("import", str(tmp_path / "one.yaml"), "--comment", "first").stdout)
    second = int(run("import", str(tmp_path / "two.yaml"), "--comment", "second").stdout)
    listed = run("versions").stdout.splitlines()
    assert [line.split()[0:2] for line in listed] == [["*", str(second)], [str(first), listed[1].split()[1]]]
    assert listed[0].endswith(f"cli:{getpass.getuser()}  second") and listed[1].endswith("first")

    restored = run("restore", str(first))
    assert restored.exit_code == 0, restored.output
    assert run("export").stdout == EDITED
    version = store.active_version(create_db_engine(database))
    assert version is not None and version.id == int(restored.stdout) and version.restored_from == first
    assert run("versions").stdout.splitlines()[0].split()[:2] == ["*", restored.stdout.strip()]

    missing = run("restore", "999")
    assert missing.exit_code == 1 and "no configuration version 999" in missing.output


def canned_in(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.*.md"))}


def test_the_canned_folder_beside_an_imported_file_round_trips_through_export(
    database: str, tmp_path: Path
) -> None:
    repo = tmp_path / "git"
    exported = run("export", "--canned-dir", str(repo / "canned"))
    assert exported.exit_code == 0, exported.output
    assert exported.stdout == DEFAULT_CONFIG.read_text()  # standard output is the YAML alone, as before
    shipped = canned_in(DEFAULT_CONFIG.parent / "canned")
    assert canned_in(repo / "canned") == shipped and "README.md" not in canned_in(repo / "canned")

    (repo / "hub.yaml").write_text(exported.stdout, encoding="utf-8")
    (repo / "canned" / "fixed.en.md").write_text("---\ntitle: Fixed\n---\n{{ issue_key }} is fixed.\n")
    (repo / "canned" / "thanks.en.md").write_text("---\ntitle: Thanks\n---\nThank you!\n")
    (repo / "canned" / "shipped.ru.md").unlink()
    imported = run("import", str(repo / "hub.yaml"), "--comment", "canned from git")
    assert imported.exit_code == 0, imported.output
    version = store.get_version(create_db_engine(database), int(imported.stdout))
    assert version is not None and version.canned == canned_in(repo / "canned")

    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("kept")
    (out / "shipped.ru.md").write_text("---\ntitle: stale\n---\nstale")
    again = run("export", "--canned-dir", str(out))
    assert again.exit_code == 0 and again.stdout == exported.stdout
    assert canned_in(out) == canned_in(repo / "canned")  # the deleted one is gone from the export too
    assert (out / "README.md").read_text() == "kept"


def test_an_import_whose_canned_folder_lacks_a_response_the_rules_name_is_refused(
    database: str, tmp_path: Path
) -> None:
    (tmp_path / "hub.yaml").write_text(DEFAULT_CONFIG.read_text(), encoding="utf-8")
    (tmp_path / "canned").mkdir()
    (tmp_path / "canned" / "fixed.en.md").write_text("---\ntitle: Fixed\n---\nFixed.\n")

    result = run("import", str(tmp_path / "hub.yaml"))

    assert result.exit_code == 1
    assert "customer_notice: no canned response 'routed' in this configuration version's" in result.output
    assert store.list_versions(create_db_engine(database)) == []
