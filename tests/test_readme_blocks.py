"""The README's shell and Python blocks run as written, in order, as one terminal session would;
so do those of the docs pages that go on from it (docs/mapping.md, docs/operations.md).

Every ```bash, ```sh or ```python block of these pages is either run or starts with a comment
`# not run by the README test: <why>`; a marked block is reported as skipped with its reason. The
README's blocks run in one `bash` process (so an `export` in one block holds for the next, as in a
terminal; a Python block runs as `python <block>` there) in a scratch folder holding only a link to
sample_data/, with the installed `shadow` and `python` first on PATH and no SHADOW_DB from the
caller. Each docs page then runs in a `bash` process of its own, as a reader who opens a new
terminal in the folder where they followed the README: in a copy of the folder as the README's
session left it (its stores, its published numbers), without its exports. So each page's blocks
must stand on the README's alone, and the README's setup runs once. Each block must finish with exit
status 0, and a Python block must print nothing (the pages' print nothing, so anything printed is a
complaint, such as a ShadowLogger's).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The README first; each docs page after it goes on from where the README's session left off.
PAGES = ("README.md", "docs/mapping.md", "docs/operations.md")
TEXTS = {page: (ROOT / page).read_text(encoding="utf-8") for page in PAGES}
README = TEXTS["README.md"]
MARK = "# not run by the README test:"
FENCE = re.compile(r"^```(bash|sh|shell|python)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
STARTED, DONE = "@@readme-block-started", "@@readme-block-done"


@dataclass(frozen=True)
class Block:
    """One block of a page: the line its fence opens on, its text, why it is skipped."""

    line: int
    text: str
    skipped: str | None
    python: bool = False
    page: str = "README.md"


def readme_blocks(readme: str, page: str = "README.md") -> list[Block]:
    """Every shell or Python block in page order; `skipped` is the reason after the marker, if any."""
    blocks = []
    for match in FENCE.finditer(readme):
        text = match.group(2)
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        reason = first.removeprefix(MARK).strip() if first.startswith(MARK) else None
        line = readme.count("\n", 0, match.start()) + 1
        blocks.append(Block(line, text, reason, python=match.group(1) == "python", page=page))
    return blocks


BLOCKS = {page: readme_blocks(text, page) for page, text in TEXTS.items()}
ALL_BLOCKS = [block for page in PAGES for block in BLOCKS[page]]


def test_the_pages_have_blocks_that_run_and_say_why_the_others_do_not() -> None:
    assert sum(b.skipped is None for b in BLOCKS["README.md"]) >= 5
    for page in PAGES[1:]:
        assert sum(b.skipped is None for b in BLOCKS[page]) >= 2, page
    for block in ALL_BLOCKS:
        assert block.skipped is None or block.skipped, (
            f"{block.page} line {block.line}: the marker needs a reason"
        )
    # a marker anywhere but the first line would not skip the block: say so rather than run it
    for block in ALL_BLOCKS:
        later = block.text.strip().splitlines()[1:]
        assert not any(MARK in line for line in later), (
            f"{block.page} line {block.line}: marker not first"
        )


def test_readme_blocks_are_found_with_their_markers() -> None:
    readme = (
        "x\n```bash\n# not run by the README test: serves\nshadow app\n```\n```sh\nls\n```\n"
        "```toml\na = 1\n```\n```python\nimport shadow\n```\n"
    )
    assert readme_blocks(readme) == [
        Block(2, "# not run by the README test: serves\nshadow app\n", "serves"),
        Block(6, "ls\n", None),
        Block(12, "import shadow\n", None, python=True),
    ]
    assert readme_blocks("```sh\nls\n```\n", "docs/x.md") == [
        Block(1, "ls\n", None, page="docs/x.md")
    ]


Session = dict[tuple[str, int], tuple[bool, str]]


def run_page(page: str, folder: Path, env: dict[str, str], timeout: float) -> tuple[Session, bool]:
    """Run the page's unmarked blocks in one bash process in `folder`: per (page, block line),
    (finished, its output); and whether every one of them finished."""
    slug = re.sub(r"\W", "-", page)
    script = ["set -eo pipefail"]
    wanted = [b for b in BLOCKS[page] if b.skipped is None]
    for i, block in enumerate(wanted):
        path = folder / f".block-{slug}-{i}.{'py' if block.python else 'sh'}"
        path.write_text(block.text, encoding="utf-8")
        run = f"python {path.name}" if block.python else f"source {path.name}"
        script += [f"echo '{STARTED} {block.line}'", run, f"echo '{DONE}'"]
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    found: Session = {}
    for part in result.stdout.split(f"{STARTED} ")[1:]:
        number, _, rest = part.partition("\n")
        found[(page, int(number))] = (DONE in rest, rest.replace(DONE, "").strip())
    return found, len(found) == len(wanted) and all(done for done, _ in found.values())


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """Run the README's blocks, then each docs page's in a copy of the folder the README left."""
    folder = tmp_path_factory.mktemp("newcomer")
    (folder / "sample_data").symlink_to(ROOT / "sample_data")
    env = {k: v for k, v in os.environ.items() if k not in ("SHADOW_DB", "SHADOW_DEBUG")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    found, complete = run_page("README.md", folder, env, timeout=300)
    if not complete:  # a page run on half the README's state would fail for the README's reason
        return found
    for page in PAGES[1:]:
        copy = tmp_path_factory.mktemp("newcomer-" + Path(page).stem)
        # symlinks=True keeps the published link (relative) pointing into the copy's snapshots
        shutil.copytree(folder, copy, symlinks=True, dirs_exist_ok=True)
        found.update(run_page(page, copy, env, timeout=120)[0])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[f"{b.page}:line-{b.line}" for b in ALL_BLOCKS])
def test_readme_block(block: Block, session: Session) -> None:
    where = f"{block.page} line {block.line}"
    if block.skipped is not None:
        pytest.skip(f"{where}: {block.skipped}")
    assert (block.page, block.line) in session, (
        f"{where}: not reached (an earlier block of this page, or of the README, failed)"
    )
    finished, output = session[(block.page, block.line)]
    assert finished, f"{where} failed:\n{block.text}\n--- output ---\n{output}"
    if block.python:
        assert output == "", f"{where} printed:\n{output}"


def readme_line(command: str) -> int:
    """The line of the README's one run block holding `command`."""
    (line,) = [b.line for b in BLOCKS["README.md"] if command in b.text and not b.skipped]
    return line


@pytest.mark.slow
def test_the_first_briefing_says_what_the_readme_quotes(session: Session) -> None:
    sentence = README.split("On three cases the briefing says, among other things, ", 1)[1]
    quotes = [" ".join(q.split()) for q in sentence.split(". ", 1)[0].split('"')[1::2]]
    assert len(quotes) == 2
    said = " ".join(
        session[("README.md", readme_line("shadow ingest outcomes outcomes.csv"))][1].split()
    )
    for quote in quotes:
        assert quote in said


@pytest.mark.slow
def test_the_gates_the_readme_shows_are_what_shadow_gates_prints(session: Session) -> None:
    command = "shadow gates --point pump-inspection --segment site=kiel"
    shown = README.split(f"$ {command}\n", 1)[1].split("\n```", 1)[0].splitlines()
    # the data cut-off is the time of the last load: it differs on every run
    shown = [s for s in shown if "data cut-off" not in s]
    printed = session[("README.md", readme_line(command))][1].splitlines()
    printed = [s for s in printed if "data cut-off" not in s]
    assert len(shown) == 10
    assert "\n".join(shown) in "\n".join(printed)


@pytest.mark.slow
def test_a_second_run_of_the_daily_routine_changes_nothing_as_the_operations_page_says(
    session: Session,
) -> None:
    (line,) = [
        b.line
        for b in BLOCKS["docs/operations.md"]
        if "nothing new: the numbers stand" in b.text and not b.skipped
    ]
    said = " ".join(session[("docs/operations.md", line)][1].split())
    assert "already loaded" in said
    assert "Nothing has changed since the last refresh" in said
