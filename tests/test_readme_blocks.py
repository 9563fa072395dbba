"""The README's shell and Python blocks run as written, in order, as one terminal session would.

Every ```bash, ```sh or ```python block of README.md is either run or starts with a comment
`# not run by the README test: <why>`; a marked block is reported as skipped with its reason. The
blocks run in one `bash` process (so an `export` in one block holds for the next, as in a terminal;
a Python block runs as `python <block>` there) in a scratch folder holding only a link to
sample_data/, with the installed `shadow` and `python` first on PATH and no SHADOW_DB from the
caller. Each block must finish with exit status 0, and a Python block must print nothing (the
README's print nothing, so anything printed is a complaint, such as a ShadowLogger's).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARK = "# not run by the README test:"
FENCE = re.compile(r"^```(bash|sh|shell|python)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
STARTED, DONE = "@@readme-block-started", "@@readme-block-done"


@dataclass(frozen=True)
class Block:
    """One block of the README: the line its fence opens on, its text, why it is skipped."""

    line: int
    text: str
    skipped: str | None
    python: bool = False


def readme_blocks(readme: str) -> list[Block]:
    """Every shell or Python block in README order; `skipped` is the reason after the marker, if any."""
    blocks = []
    for match in FENCE.finditer(readme):
        text = match.group(2)
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        reason = first.removeprefix(MARK).strip() if first.startswith(MARK) else None
        line = readme.count("\n", 0, match.start()) + 1
        blocks.append(Block(line, text, reason, python=match.group(1) == "python"))
    return blocks


BLOCKS = readme_blocks(README)


def test_the_readme_has_readme_blocks_that_run_and_says_why_the_others_do_not() -> None:
    assert sum(b.skipped is None for b in BLOCKS) >= 10
    for block in BLOCKS:
        assert block.skipped is None or block.skipped, (
            f"line {block.line}: the marker needs a reason"
        )
    # a marker anywhere but the first line would not skip the block: say so rather than run it
    for block in BLOCKS:
        later = block.text.strip().splitlines()[1:]
        assert not any(MARK in line for line in later), f"line {block.line}: marker not first"


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


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[bool, str]]:
    """Run every unmarked block in one bash process; per block line: (finished, its output)."""
    folder = tmp_path_factory.mktemp("newcomer")
    (folder / "sample_data").symlink_to(ROOT / "sample_data")
    script = ["set -eo pipefail"]
    for i, block in enumerate(BLOCKS):
        if block.skipped is None:
            path = folder / f".block-{i}.{'py' if block.python else 'sh'}"
            path.write_text(block.text, encoding="utf-8")
            run = f"python {path.name}" if block.python else f"source {path.name}"
            script += [f"echo '{STARTED} {block.line}'", run, f"echo '{DONE}'"]
    env = {k: v for k, v in os.environ.items() if k not in ("SHADOW_DB", "SHADOW_DEBUG")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    found: dict[int, tuple[bool, str]] = {}
    for part in result.stdout.split(f"{STARTED} ")[1:]:
        number, _, rest = part.partition("\n")
        found[int(number)] = (DONE in rest, rest.replace(DONE, "").strip())
    return found


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"line-{b.line}" for b in BLOCKS])
def test_readme_block(block: Block, session: dict[int, tuple[bool, str]]) -> None:
    if block.skipped is not None:
        pytest.skip(f"README line {block.line}: {block.skipped}")
    assert block.line in session, f"README line {block.line}: not reached (an earlier block failed)"
    finished, output = session[block.line]
    assert finished, f"README line {block.line} failed:\n{block.text}\n--- output ---\n{output}"
    if block.python:
        assert output == "", f"README line {block.line} printed:\n{output}"


@pytest.mark.slow
def test_the_first_briefing_says_what_the_readme_quotes(
    session: dict[int, tuple[bool, str]],
) -> None:
    sentence = README.split("On three cases the briefing says, among other things, ", 1)[1]
    quotes = [" ".join(q.split()) for q in sentence.split(". ", 1)[0].split('"')[1::2]]
    assert len(quotes) == 2
    (line,) = [
        b.line for b in BLOCKS if "shadow ingest outcomes outcomes.csv" in b.text and not b.skipped
    ]
    said = " ".join(session[line][1].split())
    for quote in quotes:
        assert quote in said


@pytest.mark.slow
def test_the_gates_the_readme_shows_are_what_shadow_gates_prints(
    session: dict[int, tuple[bool, str]],
) -> None:
    command = "shadow gates --point pump-inspection --segment site=kiel"
    shown = README.split(f"$ {command}\n", 1)[1].split("\n```", 1)[0].splitlines()
    # the data cut-off is the time of the last load: it differs on every run
    shown = [s for s in shown if "data cut-off" not in s]
    (line,) = [b.line for b in BLOCKS if command in b.text and not b.skipped]
    printed = [s for s in session[line][1].splitlines() if "data cut-off" not in s]
    assert len(shown) == 10
    assert "\n".join(shown) in "\n".join(printed)
