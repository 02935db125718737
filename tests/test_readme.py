"""The README and the operator docs cannot rot: their examples run, their names exist.

* Every ``console`` block of README.md is run: each ``$ edx ...`` line on the state
  `edx demo` left (the shared demo run), checking its exit status and that the
  agency codes and column headers the README shows are in the real output.
* The README keeps the two commands, and the Makefile does what the README says.
* In README.md, docs/ARCHITECTURE.md, docs/OPERATIONS.md and docker/README.md:
  every ``edx`` command shown exists, every ``EDX_*`` variable is one the code
  reads, every ``edx_*`` metric is one the services export, and every relative
  link points to a file of the repository.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from bus.metrics import REGISTRY
from bus.settings import ENV_VARS, TOPIC_ENV_PREFIX, TopicNames
from cli.main import cli
from tests.fixtures.demo import DemoRun, clean_env, run_edx, shared_demo_run

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [
    README,
    ROOT / "docs" / "ARCHITECTURE.md",
    ROOT / "docs" / "OPERATIONS.md",
    ROOT / "docker" / "README.md",
]
AGENCY_CODE = re.compile(r"\b\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}\b")
DIRECTIVE_ID = re.compile(r"000\.00\.00\.H41,\d{4}/\d{2}/\d{2},\d+/CT-UBND")
#: Variables read outside Settings: the settings file, the CLI's debug switch, tests.
OTHER_VARIABLES = {
    "EDX_CONFIG",
    "EDX_DEBUG",
    "EDX_TEST_BOOTSTRAP",
    "EDX_TEST_DATABASE_URL",
    "EDX_CHAOS_SEED",  # read by tests/chaos to replay a run
    "EDX_GATEWAY_PORT",  # read by `edx up` (cli/services.py) for its gateway's port
}


@dataclass(frozen=True)
class Example:
    """One ``$ command`` of a console block and the output the README shows for it."""

    command: str
    shown: tuple[str, ...]
    line: int


def console_examples(text: str) -> list[Example]:
    examples: list[Example] = []
    in_block = False
    current: Example | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            if current is not None:
                examples.append(current)
                current = None
            in_block = line.strip() == "```console"
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            if current is not None:
                examples.append(current)
            current = Example(line[2:].strip(), (), number)
        elif current is not None:
            current = Example(current.command, (*current.shown, line), current.line)
    return examples


def code_text(text: str) -> str:
    """The text of fenced blocks and inline code spans: where commands are shown."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))
    return "\n".join([*fenced, *spans])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return shared_demo_run(tmp_path_factory)


def _directive_id(demo: DemoRun) -> str:
    match = DIRECTIVE_ID.search(demo.output)
    assert match, demo.output
    return match[0]


# --- the README's commands run -------------------------------------------------------


def test_readme_keeps_the_two_commands_and_the_makefile_runs_them() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:.*\n(?:\t.*\n)*\t\$\(BIN\)/edx demo$", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_readme_has_a_tour_with_real_commands() -> None:
    examples = console_examples(README.read_text(encoding="utf-8"))
    commands = [e.command.split()[0] for e in examples]
    assert sum(c.endswith("edx") for c in commands) >= 3, commands


@pytest.mark.kafka
@pytest.mark.slow
def test_readme_console_examples_run_on_the_demo_state(demo: DemoRun) -> None:
    directive = _directive_id(demo)
    examples = console_examples(README.read_text(encoding="utf-8"))
    ran = 0
    for example in examples:
        words = shlex.split(DIRECTIVE_ID.sub(directive, example.command))
        if words[:2] == ["make", "demo"]:
            produced = demo.output  # the shared run is exactly this command
        elif words[0].endswith("edx"):
            done = run_edx(*words[1:], cwd=demo.workdir, env=clean_env())
            assert done.returncode == 0, f"README line {example.line}: {done.stderr}"
            produced = done.stdout
            ran += 1
        else:
            continue
        shown = "\n".join(example.shown)
        for code in set(AGENCY_CODE.findall(shown)):
            assert code in produced, f"README line {example.line}: {code} not in\n{produced}"
        header = next((line for line in example.shown if line.strip()), "")
        if words[0].endswith("edx") and header and not header.lstrip().startswith(("...", "…")):
            for word in re.findall(r"[A-Za-z]{3,}", header)[:6]:
                assert word in produced, f"README line {example.line}: {word!r} not in output"
    assert ran >= 3


# --- names in the docs exist -----------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_edx_commands_shown_in_the_docs_exist(doc: Path) -> None:
    code = code_text(doc.read_text(encoding="utf-8"))
    context = click.Context(cli)
    for first, second in re.findall(r"(?:^|[\s/])edx ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", code):
        command = cli.get_command(context, first)
        assert command is not None, f"{doc.relative_to(ROOT)}: edx {first}"
        if isinstance(command, click.Group) and second:
            assert command.get_command(context, second) is not None, f"edx {first} {second}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_variables_shown_in_the_docs_are_read_by_the_code(doc: Path) -> None:
    topic_vars = {f"{TOPIC_ENV_PREFIX}{name.upper()}" for name in TopicNames.__dataclass_fields__}
    known = set(ENV_VARS) | topic_vars | OTHER_VARIABLES
    mentioned = set(re.findall(r"\bEDX_[A-Z_]+[A-Z]\b", doc.read_text(encoding="utf-8")))
    unknown = {v for v in mentioned - known if v != "EDX_TOPIC_"}
    assert not unknown, (
        f"{doc.relative_to(ROOT)} names variables the code does not read: {sorted(unknown)}"
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_metrics_shown_in_the_docs_are_exported(doc: Path) -> None:
    exported = {sample.name for metric in REGISTRY.collect() for sample in metric.samples} | {
        metric.name for metric in REGISTRY.collect()
    }
    mentioned = set(re.findall(r"\bedx_[a-z_]+[a-z]\b", doc.read_text(encoding="utf-8")))
    # Labelled series appear once they have a value; their family is always there.
    missing = {
        m for m in mentioned if m not in exported and m.removesuffix("_total") not in exported
    }
    assert not missing, (
        f"{doc.relative_to(ROOT)} names metrics the services do not export: {sorted(missing)}"
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue
        assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links to missing {target}"
