"""The interactive terminal questionnaire (docs/protocol.md §5 answers, §3 consent).

``testimony seal`` without ``--answers`` asks one question at a time, in the
witness's language: the label and help of the form, choices by number, dates
with their format, and, when an answer does not validate, the message for it
from ``forms/messages.json`` in that language, before asking again. The
consent questions come last, worded by ``forms/consent.json``. Nothing is
written anywhere: the answers live in memory until sealing, so Ctrl-C (or the
end of input) leaves nothing behind.

Answers to ``attachments`` fields are not asked: the files given with
``--attach`` fill them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from testimony.forms import (
    Consent,
    FormDefinition,
    FormField,
    Messages,
    answer_problems,
    bundled_messages,
    consent_wording,
)

__all__ = ["Interview", "PromptAborted", "ask_language", "interview"]

DATE_FORMAT = "YYYY | YYYY-MM | YYYY-MM-DD"
MOMENT_FORMAT = DATE_FORMAT + " | YYYY-MM-DDTHH:MM"

# The few words a terminal needs beyond forms/messages.json. Only English and
# Russian are written; other languages fall back to the symbols alone.
_HINTS: dict[str, dict[str, str]] = {
    "numbers": {"en": "numbers, separated by commas", "ru": "номера через запятую"},
    "finish": {"en": "finish with an empty line", "ru": "закончите пустой строкой"},
    "skip": {"en": "Enter to skip", "ru": "Enter, чтобы пропустить"},
}


class PromptAborted(Exception):
    """The witness stopped the questionnaire (Ctrl-C or end of input)."""

    code = "prompt-aborted"


@dataclass(frozen=True)
class Interview:
    """What the witness answered, and their consent."""

    answers: dict[str, Any]
    consent: Consent


class _Terminal:
    def __init__(self, stdin: TextIO, stdout: TextIO) -> None:
        self._stdin, self._stdout = stdin, stdout

    def say(self, text: str = "") -> None:
        self._stdout.write(text + "\n")
        self._stdout.flush()

    def ask(self, prompt: str) -> str:
        self._stdout.write(prompt)
        self._stdout.flush()
        line = self._stdin.readline()
        if not line:
            raise PromptAborted()
        return line.rstrip("\r\n")


def ask_language(form: FormDefinition, stdin: TextIO, stdout: TextIO) -> str:
    """Ask which of the form's languages to use (by number); each shown in itself."""
    terminal = _Terminal(stdin, stdout)
    for index, language in enumerate(form.languages, 1):
        terminal.say(f"  {index}) {form.title[language]} [{language}]")
    while True:
        choice = terminal.ask("> ").strip()
        if choice.isdigit() and 1 <= int(choice) <= len(form.languages):
            return form.languages[int(choice) - 1]


class _Questionnaire:
    def __init__(self, terminal: _Terminal, language: str, messages: Messages) -> None:
        self.terminal = terminal
        self.language = language
        self.messages = messages

    def word(self, key: str) -> str:
        return self.messages.text(key, self.language)

    def hint(self, key: str) -> str:
        texts = _HINTS[key]
        return texts.get(self.language, texts["en"])

    def options(self, form_field: FormField) -> list[tuple[str | None, str]]:
        """Numbered options: (choice id, label); id None for the free-text option."""
        listed = form_field.choices or form_field.places or []
        options: list[tuple[str | None, str]] = [
            (option.id, option.label[self.language]) for option in listed
        ]
        if form_field.type == "place":
            options.append((None, self.word("field.place-text")))
        elif form_field.allows_other:
            options.append((None, self.word("field.other")))
        return options

    def heading(self, form_field: FormField) -> None:
        optional = "" if form_field.required else f" ({self.word('field.optional')})"
        self.terminal.say()
        self.terminal.say(form_field.label[self.language] + optional)
        if form_field.help[self.language]:
            self.terminal.say(form_field.help[self.language])

    def read(self, form_field: FormField) -> tuple[bool, Any]:
        """One raw answer: (answered, value); unanswered when left empty."""
        kind = form_field.type
        skip = "" if form_field.required else f" [{self.hint('skip')}]"
        if kind == "longtext":
            self.terminal.say(f"({self.hint('finish')})")
            lines: list[str] = []
            while (line := self.terminal.ask("> " if not lines else "  ")) != "":
                lines.append(line)
            text = "\n".join(lines)
            return bool(text) or form_field.required, text
        if kind in ("text", "date", "number"):
            suffix = f" [{DATE_FORMAT}]" if kind == "date" else ""
            text = self.terminal.ask(f"{suffix}{skip}> ".lstrip())
            if text == "":
                return form_field.required, text
            if kind == "number":
                try:
                    return True, int(text) if text.lstrip("-").isdigit() else float(text)
                except ValueError:
                    return True, text
            return True, text
        if kind == "datetime_range":
            start = self.terminal.ask(f"{self.word('field.range-start')} [{MOMENT_FORMAT}]{skip}> ")
            if start == "":
                return form_field.required, {"start": "", "end": None}
            end = self.terminal.ask(f"{self.word('field.range-end')} [{MOMENT_FORMAT}]> ")
            return True, {"start": start, "end": end or None}
        if kind == "boolean":
            self.terminal.say(f"  1) {self.word('field.yes')}\n  2) {self.word('field.no')}")
            text = self.terminal.ask(f"{skip}> ".lstrip()).strip()
            if text == "":
                return form_field.required, None
            return True, {"1": True, "2": False}.get(text, text)
        return self.read_options(form_field, skip)

    def read_options(self, form_field: FormField, skip: str) -> tuple[bool, Any]:
        options = self.options(form_field)
        for index, (_, label) in enumerate(options, 1):
            self.terminal.say(f"  {index}) {label}")
        many = form_field.type == "multichoice"
        text = self.terminal.ask(
            f"[{self.hint('numbers')}]{skip}> " if many else f"{skip}> ".lstrip()
        )
        if text.strip() == "":
            return form_field.required, [] if many else None
        values: list[Any] = []
        for part in text.split(",") if many else [text]:
            number = part.strip()
            if not number.isdigit() or not 1 <= int(number) <= len(options):
                values.append(number)  # not a choice id: validation says so
                continue
            choice_id, label = options[int(number) - 1]
            if choice_id is not None:
                values.append({"id": choice_id} if form_field.type == "place" else choice_id)
                continue
            free_text = self.terminal.ask(f"{label}: ")
            key = "text" if form_field.type == "place" else "other"
            values.append({key: free_text})
        if form_field.type == "place" and isinstance(values[0], str):
            return True, {"id": values[0]}
        return True, values if many else values[0]

    def ask(
        self, form_field: FormField, check: Callable[[FormField, Any], list[str]]
    ) -> tuple[bool, Any]:
        self.heading(form_field)
        while True:
            answered, value = self.read(form_field)
            if not answered:
                return False, None
            problems = check(form_field, value)
            if not problems:
                return True, value
            for message_key in problems:
                self.terminal.say("! " + self.word(message_key))


def interview(
    form: FormDefinition,
    language: str,
    *,
    stdin: TextIO,
    stdout: TextIO,
    messages: Messages | None = None,
) -> Interview:
    """Ask every question of ``form`` (but ``attachments``) and the consent, in ``language``.

    Raises :class:`PromptAborted` at the end of input; Ctrl-C raises
    ``KeyboardInterrupt`` unchanged. Nothing is written but to ``stdout``.
    """
    questionnaire = _Questionnaire(
        _Terminal(stdin, stdout), language, messages or bundled_messages()
    )

    def check_in(definition: FormDefinition) -> Callable[[FormField, Any], list[str]]:
        def check(form_field: FormField, value: Any) -> list[str]:
            problems = answer_problems(definition, {form_field.id: value}, ())
            return [p.message_key for p in problems if p.field_id == form_field.id]

        return check

    questionnaire.terminal.say(form.title[language])
    answers: dict[str, Any] = {}
    for form_field in form.fields:
        if form_field.type == "attachments":
            continue
        answered, value = questionnaire.ask(form_field, check_in(form))
        if answered:
            answers[form_field.id] = value
    wording = consent_wording()
    consent_language = language if language in wording.languages else wording.languages[0]
    questionnaire.language = consent_language
    chosen: dict[str, Any] = {"share_with": [], "contact": False}
    for form_field in wording.fields:
        answered, value = questionnaire.ask(form_field, check_in(wording))
        if answered:
            chosen[form_field.id] = value
    # v1.1 §3: the consent names the wording just shown, hex(H(JCS(consent document))).
    chosen["text_sha256"] = wording.sha256
    return Interview(answers=answers, consent=Consent.from_manifest(chosen))
