"""The documentation's commands, run: a guide's ```bash block promises that its commands work as written, so each
one runs here, in-process, and must exit 0. The site itself (links, anchors, the API reference) is checked by
``mkdocs build --strict`` in scripts/test.sh.

How a page's blocks run:

- Each ``## `` section of a page runs in a fresh empty directory, its blocks in order: a section's commands may use
  what its earlier commands made (``lightning_logs/version_0``), never another section's.
- ``logreg ARGS`` runs through conftest's :func:`call_main`; ``python -c CODE`` (for set-up, such as writing a CSV)
  is executed in this process, in the section's directory. Any other command fails the test: mark its block
  skipped, or move it to a block of its own that is.
- An HTML comment on the line before a block (invisible on the site) changes how it runs:
  ``<!-- test: skip: REASON -->`` runs none of it (torchrun, tensorboard, scripts that set up a venv), and
  ``<!-- test: append FLAGS -->`` appends FLAGS to each of its ``logreg`` commands, to keep the suite fast (e.g.
  ``--trainer.max_epochs 2``); a block says so itself, never the test.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, call_main

DOCS = REPO / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
MARKER = re.compile(r"<!--\s*test:\s*(\w+)\s*:?\s*(.*?)\s*-->")
DIRECTIVES = ("skip", "append")


@dataclass
class Block:
    """One ```bash block: the ``## `` section it is in, its commands (each with its line number in the page and its
    words, as the shell splits them) and its marker's directions."""

    section: str
    commands: list[tuple[int, list[str]]]
    skip: str | None = None
    append: list[str] = field(default_factory=list)


def split_commands(script: str) -> list[tuple[int, list[str]]]:
    """The commands of a shell script as the shell splits them, each with the index of its first line: a backslash
    at the end of a line continues the command, a quote may span lines (``python -c '...'``), ``#`` starts a
    comment."""
    commands, pending, start = [], "", 0
    for index, line in enumerate(script.splitlines()):
        if not pending:
            start = index
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on on the next line
            pending += "\n"
            continue
        if words:
            commands.append((start, words))
        pending = ""
    if pending.strip():
        raise ValueError(f"a quote is never closed in {pending!r}")
    return commands


def read_blocks(text: str) -> list[Block]:
    """The ```bash blocks of a Markdown page, with the marker comment on the last non-blank line before each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    section, marker, i = "", None, 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("```"):  # any fence: a heading or marker inside one is code, not Markdown
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
            if line == "```bash":
                script = "\n".join(lines[i + 1 : end])
                block = Block(section, [(i + 2 + at, words) for at, words in split_commands(script)])
                if marker is not None:
                    directive, argument = marker
                    if directive == "skip":
                        block.skip = argument or "skipped"
                    else:
                        block.append = shlex.split(argument)
                blocks.append(block)
            marker, i = None, end + 1
            continue
        if line.startswith("## "):
            section = line.removeprefix("## ")
        if line:
            found = MARKER.fullmatch(line)
            if found and found.group(1) not in DIRECTIVES:
                raise ValueError(f"line {i + 1}: unknown test directive {found.group(1)!r} (one of {DIRECTIVES})")
            marker = found.groups() if found else None
        i += 1
    return blocks


def run_command(words: list[str], append: list[str], cwd: Path, where: str) -> None:
    """``logreg ...`` through :func:`call_main`, ``python -c CODE`` executed here; both in ``cwd``."""
    if words[0] == "logreg":
        args = [*words[1:], *append]
        result = call_main(*args, cwd=cwd, check=False)
        if result.returncode != 0:
            pytest.fail(
                f"{where}: logreg {shlex.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
    elif words[:2] == ["python", "-c"] and len(words) == 3:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(cwd)
            exec(compile(words[2], f"<{where}>", "exec"), {"__name__": "__main__"})
    else:
        pytest.fail(f"{where}: {shlex.join(words)!r} cannot run in a test: mark its block <!-- test: skip: WHY -->")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_the_page_commands_run(page, tmp_path):
    directories: dict[str, Path] = {}
    for block in read_blocks(page.read_text()):
        if block.skip is not None:
            continue
        if block.section not in directories:
            directories[block.section] = tmp_path / f"section_{len(directories)}"
            directories[block.section].mkdir()
        for line, words in block.commands:
            run_command(words, block.append, directories[block.section], f"{page.name}:{line}")


def test_blocks_are_read_as_the_shell_and_the_markers_say():
    page = """# Title
```bash
logreg fit  # a comment
```
## First
<!-- test: append --trainer.max_epochs 2 -->

```bash
python -c 'a = 1
print("# not a comment")'
logreg test --ckpt_path "a b.ckpt" \\
  --data.path x.csv
```
```text
## not a section
```
## Second
<!-- test: skip: needs torchrun -->
```bash
torchrun -m logreg fit
```
<!-- test: skip -->
Some text between the marker and the block.
```bash
logreg predict
```
"""
    intro, first, second, last = read_blocks(page)
    assert (intro.section, intro.commands, intro.skip, intro.append) == ("", [(3, ["logreg", "fit"])], None, [])
    assert first.section == "First" and first.append == ["--trainer.max_epochs", "2"]
    assert first.commands == [
        (9, ["python", "-c", 'a = 1\nprint("# not a comment")']),
        (11, ["logreg", "test", "--ckpt_path", "a b.ckpt", "--data.path", "x.csv"]),
    ]
    assert (second.section, second.skip) == ("Second", "needs torchrun")
    assert last.skip is None  # the marker was not on the line before the block
    with pytest.raises(ValueError, match="unknown test directive 'skp'"):
        read_blocks("<!-- test: skp -->\n```bash\nlogreg fit\n```\n")
    with pytest.raises(ValueError, match="never closed"):
        split_commands("python -c 'print(1)")


def test_the_guides_hold_commands_that_run():
    """The mechanism is not vacuous: the guides' runnable blocks include a default fit and the own-table recipe."""
    run = [
        words
        for page in PAGES
        for block in read_blocks(page.read_text())
        if block.skip is None
        for _, words in block.commands
    ]
    assert ["logreg", "fit"] in run
    assert any(words[:4] == ["logreg", "fit", "--config", "tabular.yaml"] for words in run)
