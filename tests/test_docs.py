"""The README and the docs pages it links to show every command, and every command has an example
in its help; what they quote is real, and every link they make leads to a file."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.points import parse_point

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Every page: the README and docs/*.md, by their path from the repository's root.
PAGES = {
    str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}
MAPPING = PAGES["docs/mapping.md"]
OPERATIONS = PAGES["docs/operations.md"]
FENCE = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The page without its code: fenced blocks and inline code hold no links or headings."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def links(page: str) -> list[str]:
    """The relative links of a page (images too), as written."""
    found = LINK.findall(prose(PAGES[page]))
    return [link for link in found if not re.match(r"[a-z]+:", link)]


def target(page: str, link: str) -> Path:
    """The file a page's relative link points to (the page itself for a bare #anchor)."""
    path = link.split("#", 1)[0]
    return (ROOT / page).parent / path if path else ROOT / page


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them (a repeated heading gets -1, -2)."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", "")).replace(" ", "-")
        n, anchor = 0, slug
        while anchor in found:
            n += 1
            anchor = f"{slug}-{n}"
        found.add(anchor)
    return found


def linked_docs() -> dict[str, str]:
    """The docs pages the README links to, by path, with their text."""
    linked = {
        str(target("README.md", link).resolve().relative_to(ROOT)) for link in links("README.md")
    }
    return {
        page: text for page, text in PAGES.items() if page in linked and page.startswith("docs/")
    }


def commands(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
        else:
            found.append(f"{prefix}{name}")
    return found


@pytest.mark.parametrize("command", commands(cli))
def test_every_command_is_in_the_readme_or_a_page_it_links_and_has_an_example(command: str) -> None:
    pages = {"README.md": README, **linked_docs()}
    assert any(f"shadow {command}" in text for text in pages.values()), f"not in {sorted(pages)}"
    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_the_quickstart_is_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in quickstart.strip().splitlines() if not line.startswith("#")]
    lines = [line.split("#")[0].strip() for line in commands]
    assert lines == ["pip install -e . && shadow demo", 'pip install -e ".[dev]" && pytest']


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -e ".[dev]" && pytest' in ci.splitlines()


def test_the_readme_shows_what_shadow_demo_really_prints(tmp_path: Path) -> None:
    block = README.split("```\nDecision point", 1)[1].split("\n```", 1)[0]
    shown = ("Decision point" + block).splitlines()
    result = CliRunner().invoke(cli, ["demo", "--no-app", "--db", str(tmp_path / "demo.duckdb")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[: len(shown)] == shown


def test_the_readme_quotes_the_real_briefing(tmp_path: Path) -> None:
    quoted = README.split("The briefing reads like this", 1)[1].split("\n\n", 2)[1]
    text = " ".join(line.removeprefix("> ").strip() for line in quoted.splitlines())
    text = text.removesuffix("...").strip()
    db = tmp_path / "demo.duckdb"
    assert CliRunner().invoke(cli, ["demo", "--no-app", "--db", str(db)]).exit_code == 0
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--point", "pump-inspection"])
    assert result.exit_code == 0, result.output
    assert text in " ".join(result.stdout.split())


def toml_blocks(text: str) -> list[str]:
    return [block.split("\n```", 1)[0] for block in text.split("```toml\n")[1:]]


def test_the_mapping_page_shows_the_samples_mapping_and_the_readme_links_it() -> None:
    assert "docs/mapping.md" in linked_docs()
    mapping = ROOT / "sample_data" / "pump_inspection" / "decisions_mapping.toml"
    shown = [b for b in toml_blocks(MAPPING) if b.startswith("# The maintenance system's")]
    assert shown == [mapping.read_text(encoding="utf-8").rstrip("\n")]
    raw = mapping.with_name("decisions.csv").read_text(encoding="latin-1").splitlines()[:3]
    assert "\n".join(raw) in MAPPING  # the export's first lines, as the page shows them


def test_the_operations_pages_policy_is_accepted_and_the_readme_links_it() -> None:
    assert "docs/operations.md" in linked_docs()
    (policy,) = [b for b in toml_blocks(OPERATIONS) if b.startswith("[policy]")]
    header = 'id = "p"\nname = "n"\nowner = "o"\ntask = "binary"\nlabels = ["a", "b"]\n'
    header += 'positive_label = "a"\ntimezone = "UTC"\n'
    point = parse_point(header + policy)
    assert point.readiness().gates["advisory"].min_resolved == 100
    assert point.readiness().costs == {"false_negative": 50, "false_positive": 1}


def test_the_screenshots_shown_are_in_the_repository_and_small() -> None:
    shown = {
        str(target(page, link).resolve().relative_to(ROOT))
        for page in PAGES
        for link in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", PAGES[page])
    }
    committed = {str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert shown == committed and len(shown) >= 4
    for path in shown:
        assert (ROOT / path).stat().st_size < 400_000, path


def test_the_readme_is_a_short_guide() -> None:
    size = len(README.encode("utf-8"))
    assert size <= 15_500, f"README.md is {size:,} bytes: move the detail into a docs page"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: str) -> None:
    assert links(page) or page != "README.md"
    for link in links(page):
        path = target(page, link)
        assert path.exists(), f"{page}: the link {link} leads to no file"
        if "#" in link and path.suffix == ".md":
            anchor = link.split("#", 1)[1]
            assert anchor in anchors(path.read_text(encoding="utf-8")), (
                f"{page}: the link {link} leads to no heading"
            )


def test_links_and_anchors_are_read_as_github_makes_them() -> None:
    text = "# Readiness: stages, gates and sign-off\n## The `cache`\n## Again\n## Again\n"
    text += "```bash\n# not a heading\n```\n"
    assert anchors(text) == {"readiness-stages-gates-and-sign-off", "the-cache", "again", "again-1"}
    assert target("docs/mapping.md", "../README.md#x") == ROOT / "docs" / ".." / "README.md"
    assert target("README.md", "#x") == ROOT / "README.md"
