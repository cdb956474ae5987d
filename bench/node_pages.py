"""Which of the node parent's pages each child of an idle node has copied, and how many of those copies
are again the same as the parent's page (``bench/node_pages.py``; root: it reads physical page numbers
from ``/proc/<pid>/pagemap`` and the pages from ``/proc/<pid>/mem``). Prints; writes nothing.

Why: a child forked from the node's parent shares every page until it writes to it. Python writes to
every object it uses (reference counts), so a child that runs code copies the pages that code's objects
live on; a call that returns gives the counts back, which leaves many copies byte for byte the parent's
page again. Those are what the kernel's same-page merging can give back (``HUB_NODE_KSM``), and the
share of them says how much of a child's memory is such transient writes (BENCHMARKS.md, issue 18).

What it does: starts a ``node`` (as bench/node.py does: private Redis, sandbox Jira, fresh SQLite journal),
sends 20 messages through, waits ``--settle`` seconds, then for each child compares its pages with the
parent's at the same address: "copied" (present in both, different physical page), of which "the same
again" (equal bytes) and "one or two words apart" (at most two 8-byte words differ), by mapping.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import PROJECT_ROOT, jira_sandbox, redis_server, report
from bench.node import LAYOUTS, node, node_env, post_all, wait_delivered
from store.db import create_db_engine

PAGE = 4096
PRESENT = 1 << 63
PFN_MASK = (1 << 55) - 1


@dataclass
class Copies:
    copied: int = 0
    same: int = 0
    near: int = 0  # one or two words apart
    by_mapping: Counter[str] = field(default_factory=Counter)


def frames(pid: int) -> dict[int, tuple[int, str]]:
    """Address → (physical page number, mapping name) of every present page of ``pid``."""
    found: dict[int, tuple[int, str]] = {}
    with Path(f"/proc/{pid}/pagemap").open("rb") as pagemap:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = Path(fields[5]).name if len(fields) > 5 else "[anon]"
            pagemap.seek(start // PAGE * 8)
            entries = pagemap.read((end - start) // PAGE * 8)
            for n in range(len(entries) // 8):
                (entry,) = struct.unpack_from("<Q", entries, n * 8)
                if entry & PRESENT:
                    found[start + n * PAGE] = (entry & PFN_MASK, name)
    return found


def compare(parent: int, child: int) -> Copies:
    mine, theirs = frames(child), frames(parent)
    copies = Copies()
    with Path(f"/proc/{parent}/mem").open("rb") as pmem, Path(f"/proc/{child}/mem").open("rb") as cmem:
        for address, (frame, name) in mine.items():
            if address not in theirs or theirs[address][0] == frame:
                continue
            copies.copied += 1
            copies.by_mapping[name] += 1
            try:
                pmem.seek(address)
                cmem.seek(address)
                before, after = pmem.read(PAGE), cmem.read(PAGE)
            except OSError:
                continue
            differing = sum(before[i : i + 8] != after[i : i + 8] for i in range(0, PAGE, 8))
            copies.same += differing == 0
            copies.near += 0 < differing <= 2
    return copies


def mib(pages: int) -> str:
    return f"{pages * PAGE / 2**20:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="pages a node's children copied from its parent")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds idle after the 20 messages")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trackerhub-pages-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(jira_sandbox(workdir))
        url = f"sqlite:///{workdir / 'journal.sqlite3'}"
        env = node_env(workdir, redis_url, sandbox.url) | {"DATABASE_URL": url}
        engine = create_db_engine(url)
        with node(LAYOUTS["node"], env, workdir, Redis.from_url(redis_url), PROJECT_ROOT) as running:
            post_all(running.port, 1, 20)
            wait_delivered(engine, 20, 120)
            time.sleep(args.settle)
            parent = running.roots[0].pid
            for pid, role in sorted(running.roles().items(), key=lambda item: item[1]):
                if pid == parent:
                    continue
                c = compare(parent, pid)
                mappings = ", ".join(f"{name} {mib(n)}" for name, n in c.by_mapping.most_common(3))
                report(
                    f"{role} {pid}: copied {mib(c.copied)} MiB ({mappings}); the same again {mib(c.same)} "
                    f"MiB ({c.same / max(c.copied, 1):.0%}), one or two words apart {mib(c.near)} MiB "
                    f"({c.near / max(c.copied, 1):.0%})"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
