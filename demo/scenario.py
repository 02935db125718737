"""The demo's scenario as data: agencies, documents, answers and the order of play.

Why: what the demo shows (who sends what to whom, who refuses, who is late) is a
story, not code; it lives in ``scenario.toml`` beside this module, read with
:mod:`importlib.resources` so it ships inside the wheel. This module only turns
the file into frozen values and checks that it holds together (every agency
named exists, every document is played once), so a mistake in the file is a
named error, not a stall halfway through the demo.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

from demo.errors import ScenarioError
from edxml import Organization

__all__ = [
    "Answer",
    "DemoAgency",
    "Scenario",
    "ScenarioAttachment",
    "ScenarioDocument",
    "ScenarioRound",
    "Signatory",
    "load_scenario",
]

#: A status a recipient reports after the automatic 01: (code, description).
Answer = tuple[str, str]


@dataclass(frozen=True)
class DemoAgency:
    """One agency of the demo tree."""

    code: str
    name: str

    @property
    def organization(self) -> Organization:
        return Organization(organ_id=self.code, organ_name=self.name)


@dataclass(frozen=True)
class ScenarioAttachment:
    """A small PDF standing in for a scanned original."""

    name: str
    title: str
    pages: int


@dataclass(frozen=True)
class Signatory:
    """Who signs a document, as the document shows it."""

    name: str
    position: str = ""
    competence: str = ""


@dataclass(frozen=True)
class ScenarioDocument:
    """One document of the scenario and what each recipient answers to it."""

    label: str
    sender: str
    subject: str
    announce: str
    answers: Mapping[str, tuple[Answer, ...]]
    signer: Signatory
    notation: str = ""
    type_name: str = ""
    place: str | None = None
    content: str | None = None
    issued_days_ago: int | None = None
    due_in_days: int | None = None
    attachments: tuple[ScenarioAttachment, ...] = ()
    #: The label of the document this one revokes (a revocation carries no new content).
    revokes: str | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(self.answers)

    @property
    def final_statuses(self) -> dict[str, str]:
        """The last status each recipient reports (01 when it reports none)."""
        return {code: (steps[-1][0] if steps else "01") for code, steps in self.answers.items()}

    def issued(self, today: date) -> date | None:
        return None if self.issued_days_ago is None else today - timedelta(self.issued_days_ago)

    def due(self, today: date) -> date | None:
        return None if self.due_in_days is None else today + timedelta(self.due_in_days)


@dataclass(frozen=True)
class ScenarioRound:
    """Documents sent one after the other, then waited for until every recipient answered."""

    documents: tuple[str, ...]
    #: Said once every recipient's 01 is back (the round waits for them only if set).
    delivered: str | None = None
    #: Said once every recipient has answered.
    answered: str | None = None


@dataclass(frozen=True)
class Scenario:
    """The whole demo: its agencies, its documents by label, and the rounds of play."""

    agencies: tuple[DemoAgency, ...]
    documents: Mapping[str, ScenarioDocument]
    rounds: tuple[ScenarioRound, ...]

    def agency(self, code: str) -> DemoAgency:
        return next(a for a in self.agencies if a.code == code)

    def document(self, label: str) -> ScenarioDocument:
        return self.documents[label]


def _document(raw: Mapping[str, Any]) -> ScenarioDocument:
    answers = {
        code: tuple((str(c), str(d)) for c, d in steps) for code, steps in raw["answers"].items()
    }
    return ScenarioDocument(
        label=raw["label"],
        sender=raw["sender"],
        subject=raw["subject"],
        announce=raw["announce"],
        answers=answers,
        signer=Signatory(**raw["signer"]),
        notation=raw.get("notation", ""),
        type_name=raw.get("type_name", ""),
        place=raw.get("place"),
        content=raw.get("content"),
        issued_days_ago=raw.get("issued_days_ago"),
        due_in_days=raw.get("due_in_days"),
        attachments=tuple(ScenarioAttachment(**a) for a in raw.get("attachments", ())),
        revokes=raw.get("revokes"),
    )


def _check(scenario: Scenario) -> None:
    codes = {a.code for a in scenario.agencies}
    played = [label for r in scenario.rounds for label in r.documents]
    if sorted(played) != sorted(scenario.documents):
        raise ScenarioError("demo scenario: every document must be played in exactly one round")
    for doc in scenario.documents.values():
        unknown = ({doc.sender} | set(doc.answers)) - codes
        if unknown:
            raise ScenarioError(f"demo scenario: {doc.label} names unknown agencies {unknown}")
        if doc.revokes is not None and doc.revokes not in scenario.documents:
            raise ScenarioError(f"demo scenario: {doc.label} revokes unknown {doc.revokes}")


def load_scenario(text: str | None = None) -> Scenario:
    """The scenario of ``text`` (TOML), by default the ``scenario.toml`` shipped here."""
    if text is None:
        text = resources.files("demo").joinpath("scenario.toml").read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
        scenario = Scenario(
            agencies=tuple(DemoAgency(**a) for a in raw["agencies"]),
            documents={d["label"]: _document(d) for d in raw["documents"]},
            rounds=tuple(
                ScenarioRound(
                    documents=tuple(r["documents"]),
                    delivered=r.get("delivered"),
                    answered=r.get("answered"),
                )
                for r in raw["rounds"]
            ),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"demo scenario is not valid: {exc!r}") from exc
    _check(scenario)
    return scenario
