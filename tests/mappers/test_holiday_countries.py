"""The ``holidays`` package loads the countries a configuration names and no other (issue 18): its
``holidays.countries`` package imports every country's module (about 250, 8 MiB;
bench/node.py's floors) when any one is imported, and a node imports the configured ones before it forks
its slots (cli/slots.py), so the rest would sit in every process of the node."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

PROBE = """
import json, sys
from mappers.calendar import country_days, load_countries
load_countries(["RU", "RU"])
preloaded = sorted(m for m in sys.modules if m.startswith("holidays.countries."))
germany = country_days("DE", 2027)  # a country a reloaded configuration names later
after = sorted(m for m in sys.modules if m.startswith("holidays.countries."))
print(json.dumps({"preloaded": preloaded, "after": after, "days": sorted(map(str, germany[0]))}))
"""

# the same facts from the package imported in full (every country's module)
FULL = """
import json, holidays.countries
from mappers.calendar import country_days
print(json.dumps(sorted(map(str, country_days("DE", 2027)[0]))))
"""


def run(code: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_the_configured_countries_imports_no_other_country_and_the_rest_load_on_use() -> None:
    probe = run(PROBE)
    assert isinstance(probe, dict)
    assert probe["preloaded"] == ["holidays.countries.russia"]
    assert probe["after"] == ["holidays.countries.germany", "holidays.countries.russia"]
    assert probe["days"] == run(FULL)
    assert "2027-10-03" in probe["days"]  # German Unity Day
