"""Catalogue files beside the rule file: CSV and YAML read as rows by key, every mistake named by its file,
sizes bounded, and an edit reloaded with the rule file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from config import catalogues
from config.catalogues import CatalogueError, parse_catalogue, read_files
from config.loading import ConfigError, load_config
from config.settings import Settings
from config.source import CHECK_INTERVAL, FileSource
from tests.clock import ManualClock

RULES = "rules:\n  - {name: r, target: {tracker: jira, project: SUP}}\n"
ROUTE = (
    "routes:\n  parts:\n    target: {tracker: jira, project: HW}\n    mode: spawn\n    fields:\n"
    "      Spare parts: {lookup: {catalogue: parts.csv, key: '{{ source.key }}', column: parts}}\n"
)


def folder_with(tmp_path: Path, files: dict[str, str | bytes], rules: str = RULES) -> Path:
    """A rule file with ``files`` in its catalogues folder; the rule file's path."""
    (tmp_path / "catalogues").mkdir(exist_ok=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (tmp_path / "catalogues" / name).write_bytes(data)
    path = tmp_path / "hub.yaml"
    path.write_text(rules, encoding="utf-8")
    return path


def test_a_csv_catalogue_is_rows_by_its_first_column() -> None:
    data = (
        '\ufeffmodel,parts,supplier\nLaserJet 4250,"Fuser kit, roller",HP\n\n  Catalyst 2960 ,PSU\n'.encode()
    )
    found = parse_catalogue("parts.csv", data)
    assert found.columns == ("model", "parts", "supplier") and found.key_column == "model"
    assert len(found) == 2
    assert found.row("laserjet 4250") == {
        "model": "LaserJet 4250",
        "parts": "Fuser kit, roller",
        "supplier": "HP",
    }
    assert found.row(" CATALYST 2960") == {"model": "Catalyst 2960", "parts": "PSU", "supplier": ""}
    assert found.row("PowerEdge") is None and found.row(None) is None


def test_a_yaml_catalogue_is_entries_by_key_or_one_value_each() -> None:
    data = "LaserJet 4250: {parts: [Fuser kit, Roller], supplier: HP}\nCatalyst 2960: PSU\n"
    found = parse_catalogue("parts.yaml", data.encode())
    assert found.columns == ("key", "parts", "supplier", "value")
    assert found.row("laserjet 4250") == {
        "key": "LaserJet 4250",
        "parts": ["Fuser kit", "Roller"],
        "supplier": "HP",
    }
    assert found.row("Catalyst 2960") == {"key": "Catalyst 2960", "value": "PSU"}


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.csv", b"model,parts\nA,1\nB,2\na,3\n", "line 4: duplicate key 'a' (first on line 2)"),
        ("a.yaml", b"A: 1\nB: 2\nA: 3\n", "line 3: duplicate key 'A'"),
        ("a.yaml", b"A: 1\na: 3\n", "duplicate key 'a' (keys are compared without regard to case)"),
        ("a.csv", b"", "empty: a CSV catalogue needs a header row naming its columns"),
        ("a.csv", b"model,parts\n,x\n", "line 2: the key (model) is empty"),
        ("a.csv", b"model,parts\nA,1,2\n", "line 2: 3 cells, but the header names 2"),
        ("a.csv", b"model,,parts\n", "a column has no name"),
        ("a.csv", b"model,Parts,parts\n", "columns named twice: ['Parts', 'parts']"),
        ("a.csv", b'model,parts\nA,"unclosed\n', "line 2: not valid CSV"),
        ("a.csv", b"model,parts\n\xff\xfe,1\n", "not UTF-8 text"),
        ("a.yaml", b"[just, a, list]\n", "a YAML catalogue is a mapping of keys to entries"),
        ("a.yaml", b"A: {b: 1\n", "not valid YAML"),
        ("a.yaml", b"A: !!python/object:os.system {}\n", "not valid YAML"),  # the safe loader, always
    ],
)
def test_a_broken_catalogue_says_what_and_where(name: str, data: bytes, expected: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(name, data)
    assert str(caught.value).startswith(expected)


def test_sizes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CatalogueError, match="over 1048576 bytes"):
        parse_catalogue("big.csv", b"model,parts\n" + b"A" * catalogues.MAX_FILE_BYTES)
    monkeypatch.setattr(catalogues, "MAX_ROWS", 3)
    with pytest.raises(CatalogueError, match="over 3 rows"):
        parse_catalogue("rows.csv", b"k\n1\n2\n3\n4\n")
    with pytest.raises(CatalogueError, match="51 columns, over 50"):
        parse_catalogue("wide.csv", ",".join(f"c{i}" for i in range(51)).encode())


def test_the_rule_file_reports_each_broken_catalogue_by_its_file(tmp_path: Path) -> None:
    path = folder_with(
        tmp_path,
        {
            "parts.csv": "model,parts\nA,1\nA,2\n",
            "ok.yaml": "A: 1\n",
            "notes.txt": "not a catalogue",
            ".x.csv": "",
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_config(Settings(HUB_CONFIG=path))
    assert (
        str(caught.value)
        == f"{tmp_path / 'catalogues' / 'parts.csv'}: line 3: duplicate key 'A' (first on line 2)"
    )


def test_a_catalogue_too_large_or_too_many_is_an_error_naming_it(tmp_path: Path) -> None:
    big = "k,v\n" + "x" * catalogues.MAX_FILE_BYTES
    path = folder_with(tmp_path, {"big.csv": big})
    with pytest.raises(ConfigError, match=r"catalogues/big.csv: the catalogue is over 1048576 bytes"):
        load_config(Settings(HUB_CONFIG=path))
    (tmp_path / "catalogues" / "big.csv").unlink()
    folder_with(tmp_path, {f"c{i}.csv": "k\n1\n" for i in range(catalogues.MAX_FILES + 1)})
    with pytest.raises(ConfigError, match=r"catalogues: 51 catalogue files, over 50"):
        load_config(Settings(HUB_CONFIG=path))


def test_a_rule_file_without_a_catalogues_folder_has_none(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(RULES, encoding="utf-8")
    assert load_config(Settings(HUB_CONFIG=path)).catalogues == {}
    assert read_files(tmp_path / "catalogues").files == {}


# -- reloading with the rule file --------------------------------------------------------------------


def parts_of(source: FileSource, key: str) -> object:
    row = source.current().catalogues["parts.csv"].row(key)
    return None if row is None else row["parts"]


def touch_later(path: Path, content: str) -> None:
    """Write ``content`` and move the file's time on, as a later edit would."""
    before = path.stat().st_mtime_ns
    path.write_text(content, encoding="utf-8")
    os.utime(path, ns=(before + 5_000_000_000, before + 5_000_000_000))


def test_editing_a_catalogue_reloads_the_configuration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = folder_with(tmp_path, {"parts.csv": "model,parts\nA,fuser\n"}, RULES + ROUTE)
    clock = ManualClock()
    source = FileSource(Settings(HUB_CONFIG=path), clock=clock)
    first = source.version().digest
    assert parts_of(source, "A") == "fuser"

    touch_later(tmp_path / "catalogues" / "parts.csv", "model,parts\nA,roller\nB,psu\n")
    clock.now += CHECK_INTERVAL
    assert parts_of(source, "A") == "roller" and parts_of(source, "B") == "psu"
    assert source.version().digest != first

    caplog.set_level(logging.ERROR, logger="config.source")
    touch_later(tmp_path / "catalogues" / "parts.csv", "model,parts\nA,x\na,y\n")  # a broken edit
    clock.now += CHECK_INTERVAL
    assert parts_of(source, "A") == "roller"  # the last good catalogue stays in force
    assert "duplicate key 'a'" in caplog.text

    (tmp_path / "catalogues" / "parts.csv").unlink()  # the route's catalogue is gone: still invalid
    clock.now += CHECK_INTERVAL
    assert parts_of(source, "B") == "psu"
    assert "no catalogue 'parts.csv'" in caplog.text


def test_a_new_catalogue_file_comes_into_force(tmp_path: Path) -> None:
    path = folder_with(tmp_path, {}, RULES)
    clock = ManualClock()
    source = FileSource(Settings(HUB_CONFIG=path), clock=clock)
    assert source.current().catalogues == {}
    (tmp_path / "catalogues" / "models.yaml").write_text("R740: {vendor: Dell}\n", encoding="utf-8")
    clock.now += CHECK_INTERVAL
    assert source.current().catalogues["models.yaml"].row("r740") == {"key": "R740", "vendor": "Dell"}
