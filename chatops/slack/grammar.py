"""The ``/botstatus`` grammar (ARCHITECTURE.md section 4): text in, one typed command out.

``parse`` accepts anything Slack may send (empty, huge, control characters, any unicode,
smart quotes) and never raises: what it cannot read becomes ``Help``, with a "did you
mean" suggestion when a word is close to one of ours. Every command can say itself back as
text (``command.text``), which is what Share and paging buttons carry as their value, so a
button click is parsed by the same grammar as a typed command.

The whole grammar is one module (about 500 lines) on purpose: every command's parser, its
``text`` and the suggestions share the cleaning, quoting and keyword rules here, and a
reader sees the language of ``/botstatus`` in one place.

    /botstatus                              Summary()
    /botstatus <query>                      Query("<query>")
    /botstatus problems [page]              Problems(page)
    /botstatus all [page]                   All(page)
    /botstatus history <bot>                History("<bot>")
    /botstatus mute <bot|glob> <duration> [reason]
    /botstatus unmute <bot|glob>
    /botstatus mutes
    /botstatus restart <bot|glob>           Restart("<bot|glob>")
    /botstatus maintenance <bot|glob> <start> <duration> [reason]
    /botstatus maintenance                  MaintenanceList()
    /botstatus maintenance cancel <id>      MaintenanceCancel(id)
    /botstatus ack <bot>                    Ack("<bot>")
    /botstatus unack <bot>                  Unack("<bot>")
    /botstatus help
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from chatops.domain.durations import compact_duration, parse_duration
from chatops.domain.maintenance import is_start_word

# Slack caps slash command text well below this; the cap bounds our work on anything else.
MAX_INPUT_CHARS = 2000
# Bot names are at most 300 characters (chatops.store.models.Bot.name).
MAX_NAME_CHARS = 300
MAX_REASON_CHARS = 500
# Far beyond any real fleet (10,000 bots is 500 pages); keeps int() and page arithmetic small.
MAX_PAGE = 1_000_000
MAX_MUTE = timedelta(days=365)

KEYWORDS = (
    "problems",
    "all",
    "history",
    "mute",
    "unmute",
    "mutes",
    "restart",
    "maintenance",
    "ack",
    "unack",
    "help",
)
USAGE = {
    "summary": "",
    "query": "<query>",
    "problems": "problems [page]",
    "all": "all [page]",
    "history": "history <bot>",
    "mute": "mute <bot|glob> <duration> [reason]",
    "unmute": "unmute <bot|glob>",
    "mutes": "mutes",
    "restart": "restart <bot|glob>",
    "maintenance": "maintenance <bot|glob> <start> <duration> [reason]",
    "maintenance list": "maintenance",
    "maintenance cancel": "maintenance cancel <id>",
    "ack": "ack <bot>",
    "unack": "unack <bot>",
    "help": "help",
}


@dataclass(frozen=True, slots=True)
class Summary:
    @property
    def text(self) -> str:
        # Not documented, but accepted, so that a Share button has a non-empty value.
        return "summary"


@dataclass(frozen=True, slots=True)
class Query:
    """Bots whose name matches ``query`` (the handler decides how: exact, prefix, glob)."""

    query: str

    @property
    def text(self) -> str:
        # Quoted when the bare words would mean a command: a bot named "all" or "help".
        return self.query if parse(self.query) == self else _quoted(self.query, always=True)


@dataclass(frozen=True, slots=True)
class Problems:
    page: int = 1

    @property
    def text(self) -> str:
        return "problems" if self.page == 1 else f"problems {self.page}"


@dataclass(frozen=True, slots=True)
class All:
    page: int = 1

    @property
    def text(self) -> str:
        return "all" if self.page == 1 else f"all {self.page}"


@dataclass(frozen=True, slots=True)
class History:
    bot: str

    @property
    def text(self) -> str:
        return f"history {self.bot}"


@dataclass(frozen=True, slots=True)
class Mute:
    target: str  # a bot id, a bot name or a glob (chatops.domain.globs)
    duration: timedelta
    reason: str | None = None

    @property
    def text(self) -> str:
        words = ["mute", _quoted(self.target), compact_duration(self.duration)]
        if self.reason:
            words.append(self.reason)
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class Unmute:
    target: str

    @property
    def text(self) -> str:
        return f"unmute {self.target}"


@dataclass(frozen=True, slots=True)
class Mutes:
    @property
    def text(self) -> str:
        return "mutes"


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart (stop, then start) every connector of the bots ``target`` names.

    ``target`` is a bot id, a bot name or a glob over names, as a mute's target is; the
    reply asks for confirmation first, naming how many bots and connectors it reaches.
    """

    target: str

    @property
    def text(self) -> str:
        return f"restart {_quoted(self.target)}"


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A maintenance window for ``target`` from ``start`` (``now``, ``HH:MM`` or an ISO time,
    read in the person's time zone when it is used) for ``duration``."""

    target: str
    start: str
    duration: timedelta
    reason: str | None = None

    @property
    def text(self) -> str:
        words = ["maintenance", _quoted(self.target), self.start]
        words.append(compact_duration(self.duration))
        if self.reason:
            words.append(self.reason)
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class MaintenanceList:
    @property
    def text(self) -> str:
        return "maintenance"


@dataclass(frozen=True, slots=True)
class MaintenanceCancel:
    window_id: int

    @property
    def text(self) -> str:
        return f"maintenance cancel {self.window_id}"


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledge the open alert about one bot (its exact name or id)."""

    bot: str

    @property
    def text(self) -> str:
        return f"ack {_quoted(self.bot)}"


@dataclass(frozen=True, slots=True)
class Unack:
    """Release the acknowledgement of the open alert about one bot."""

    bot: str

    @property
    def text(self) -> str:
        return f"unack {_quoted(self.bot)}"


@dataclass(frozen=True, slots=True)
class Help:
    """The help text; ``suggestion`` is a command to offer ("did you mean"), ``problem``
    says what was wrong with the input, both already safe to show (no markup of their own).
    """

    suggestion: str | None = None
    problem: str | None = None

    @property
    def text(self) -> str:
        return "help"


Command = (
    Summary
    | Query
    | Problems
    | All
    | History
    | Mute
    | Unmute
    | Mutes
    | Restart
    | Maintenance
    | MaintenanceList
    | MaintenanceCancel
    | Ack
    | Unack
    | Help
)

_CONTROL_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_QUOTES = {'"': '"', "“": "”", "”": "”", "'": "'", "‘": "’", "’": "’", "«": "»"}
_PAGE = re.compile(r"^(?:page\s*)?#?(\d{1,12})$")


def clean(text: str) -> str:
    """Printable, single-spaced text: control and format characters become spaces.

    NFKC folds full-width letters and the like into their plain forms, so ``ａｌｌ`` is
    ``all``; it is applied before the length cap because it may lengthen the text.
    """
    text = unicodedata.normalize("NFKC", text[: MAX_INPUT_CHARS * 2])[:MAX_INPUT_CHARS]
    chars = [" " if unicodedata.category(ch) in _CONTROL_CATEGORIES else ch for ch in text]
    return " ".join("".join(chars).split())


def parse(text: str | None) -> Command:
    """The command ``text`` asks for. Never raises; unreadable input gives ``Help``."""
    text = clean(text or "")
    if not text:
        return Summary()
    if _leading_quoted(text) is not None:
        # A quoted text is a name, even if it reads as a keyword: /botstatus "all".
        return _query(text)
    word, _, rest = text.partition(" ")
    keyword = word.casefold()
    if keyword in ("help", "?", "-h", "--help"):
        return Help()
    if keyword == "summary" and not rest:
        return Summary()
    if keyword == "mutes":
        # Extra words are harmless here: the list of mutes is short and shows every target.
        return Mutes()
    if keyword in ("problems", "all"):
        if not rest:
            return Problems() if keyword == "problems" else All()
        page = _page(rest)
        if page is not None:
            return Problems(page) if keyword == "problems" else All(page)
        # "all hands bot" is a bot's name, not a page: look it up like any other query.
        return _query(text)
    if keyword == "history":
        bot = _unquote(rest)
        if not bot:
            return Help(suggestion=USAGE["history"], problem="Which bot? Give its name.")
        return History(bot[:MAX_NAME_CHARS])
    if keyword == "mute":
        return _mute(rest)
    if keyword == "unmute":
        target = _unquote(rest)
        if not target:
            return Help(suggestion=USAGE["unmute"], problem="Which bots? Give a name or glob.")
        return Unmute(target[:MAX_NAME_CHARS])
    if keyword == "maintenance":
        return _maintenance(rest)
    if keyword == "restart":
        target = _unquote(rest)
        if not target:
            return Help(suggestion=USAGE["restart"], problem="Which bots? Give a name or glob.")
        return Restart(target[:MAX_NAME_CHARS])
    if keyword in ("ack", "unack"):
        bot = _unquote(rest)
        if not bot:
            return Help(suggestion=USAGE[keyword], problem="Which bot? Give its name.")
        return Ack(bot[:MAX_NAME_CHARS]) if keyword == "ack" else Unack(bot[:MAX_NAME_CHARS])
    if not rest:
        typo = _keyword_typo(keyword, KEYWORDS)
        if typo is not None:
            return Help(suggestion=typo)
    elif (
        typo := _keyword_typo(
            keyword, ("history", "mute", "unmute", "restart", "maintenance", "unack")
        )
    ) is not None:
        # "histroy billing-bot": the rest says the user meant a command with an argument.
        return Help(suggestion=f"{typo} {rest}"[:MAX_NAME_CHARS])
    return _query(text)


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (difflib), if any is close enough to be a typo.

    The slash command handler also uses this when a query matches no bot, with the bot
    names as candidates.
    """
    word = word.casefold()[:MAX_NAME_CHARS]
    if not word:
        return None
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.casefold(), candidate)
    matches = difflib.get_close_matches(word, list(by_folded), n=1, cutoff=0.75)
    return by_folded[matches[0]] if matches else None


def _keyword_typo(word: str, keywords: Iterable[str]) -> str | None:
    """A keyword ``word`` is a misspelling of; lengths must be close, so that a bot named
    "historybot" or "all-bots" is still looked up as a bot.
    """
    close = suggest(word, keywords)
    if close is None or abs(len(close) - len(word)) > 2:
        return None
    return close


def parse_mute_duration(word: str) -> timedelta | None:
    """``30m``, ``4h``, ``2d``, ``1w``, ``1h30m`` (``chatops.domain.durations``); ``None`` for
    anything else or under a second.

    A bare number is refused: "mute billing 30" could mean seconds, minutes or hours.
    """
    duration = parse_duration(word.strip())
    if duration is None or duration < timedelta(seconds=1):
        return None
    return min(duration, MAX_MUTE)


def _mute(rest: str) -> Command:
    """``<bot|glob> <duration> [reason]``; a name with spaces may be quoted or not.

    Unquoted, the target is every word before the first one that reads as a duration,
    so ``mute billing bot 2h deploy`` mutes "billing bot" for two hours, reason "deploy".
    """
    usage = USAGE["mute"]
    if not rest:
        return Help(suggestion=usage, problem="Which bots, and for how long?")
    quoted = _leading_quoted(rest)
    if quoted is not None:
        target, after = quoted
        words = after.split()
        if not target:
            return Help(suggestion=usage, problem="Which bots? Give a name or glob.")
        if not words or (duration := parse_mute_duration(words[0])) is None:
            return Help(suggestion=usage, problem=_duration_problem(words[:1]))
        return Mute(target[:MAX_NAME_CHARS], duration, _reason(words[1:]))
    words = rest.split()
    for index, candidate in enumerate(words[1:], start=1):
        duration = parse_mute_duration(candidate)
        if duration is not None:
            target = " ".join(words[:index])
            return Mute(target[:MAX_NAME_CHARS], duration, _reason(words[index + 1 :]))
    numbers = [word for word in words[1:] if word[:1].isdigit()]
    return Help(suggestion=usage, problem=_duration_problem(numbers[:1]))


_WINDOW_ID = re.compile(r"^#?(\d{1,12})$")


def _maintenance(rest: str) -> Command:
    """``[list]``, ``cancel <id>`` or ``<bot|glob> <start> <duration> [reason]``.

    Unquoted, the target is every word before the first that reads as a start (``now``,
    ``HH:MM``, an ISO time) and is followed by a duration.
    """
    usage = USAGE["maintenance"]
    word, _, after = rest.partition(" ")
    if not rest or (word.casefold() == "list" and not after):
        return MaintenanceList()
    if word.casefold() == "cancel":
        match = _WINDOW_ID.match(after.strip())
        if match is None:
            return Help(
                suggestion=USAGE["maintenance cancel"],
                problem="Which window? Give its number from `/botstatus maintenance`.",
            )
        return MaintenanceCancel(int(match.group(1)))
    quoted = _leading_quoted(rest)
    if quoted is not None:
        target, tail = quoted
        words = tail.split()
        if not target:
            return Help(suggestion=usage, problem="Which bots? Give a name or glob.")
        if not words or not is_start_word(words[0]):
            return Help(suggestion=usage, problem=_start_problem(words[:1]))
        return _window(target, words[0], words[1:], usage)
    words = rest.split()
    for index, candidate in enumerate(words[1:], start=1):
        if is_start_word(candidate) and index + 1 < len(words):
            return _window(" ".join(words[:index]), candidate, words[index + 1 :], usage)
    if len(words) >= 2 and is_start_word(words[-1]):
        return Help(suggestion=usage, problem="For how long? Give a duration such as 30m or 2h.")
    # The word before the first duration is the start that was meant.
    meant = next(
        (words[i - 1] for i in range(2, len(words)) if parse_mute_duration(words[i])), None
    )
    return Help(suggestion=usage, problem=_start_problem([meant] if meant else []))


def _window(target: str, start: str, words: list[str], usage: str) -> Command:
    if not words:
        return Help(suggestion=usage, problem="For how long? Give a duration such as 30m or 2h.")
    duration = parse_mute_duration(words[0])
    if duration is None:
        if parse_duration(words[0].strip()) is not None or words[0].lstrip().startswith("-"):
            problem = "A maintenance window lasts longer than zero: give e.g. 30m or 2h."
        else:
            problem = _duration_problem(words[:1]) + " A window takes a length, not an end."
        return Help(suggestion=usage, problem=problem)
    return Maintenance(target[:MAX_NAME_CHARS], start, duration, _reason(words[1:]))


def _start_problem(words: list[str]) -> str:
    if not words:
        return "When does it start? Give now, HH:MM or an ISO time such as 2026-03-29T02:00."
    shown = words[0][:40].replace("`", "'")
    return f"`{shown}` is not a start: use now, HH:MM or an ISO time such as 2026-03-29T02:00."


def _duration_problem(words: list[str]) -> str:
    if not words:
        return "For how long? Give a duration such as 30m, 4h or 2d."
    shown = words[0][:40].replace("`", "'")
    return f"`{shown}` is not a duration: use e.g. 30m, 4h, 2d or 1h30m."


def _reason(words: list[str]) -> str | None:
    reason = " ".join(words)[:MAX_REASON_CHARS]
    return reason or None


def _page(text: str) -> int | None:
    match = _PAGE.match(text.casefold())
    if match is None:
        return None
    return min(max(int(match.group(1)), 1), MAX_PAGE)


def _query(text: str) -> Query:
    return Query(_unquote(text)[:MAX_NAME_CHARS] or text[:MAX_NAME_CHARS])


def _leading_quoted(text: str) -> tuple[str, str] | None:
    """``"my bot" 2h`` -> (``my bot``, ``2h``); ``None`` when text does not open a quote."""
    closing = _QUOTES.get(text[:1])
    if closing is None:
        return None
    end = text.find(closing, 1)
    if end < 0 and closing in "”’":
        end = max(text.find('"', 1), text.find("'", 1))
    if end < 0:
        return None
    return text[1:end].strip(), text[end + 1 :].strip()


def _unquote(text: str) -> str:
    quoted = _leading_quoted(text)
    if quoted is not None and not quoted[1]:
        return quoted[0]
    return text.strip()


def _quoted(target: str, *, always: bool = False) -> str:
    """``target`` as one word of a command: in quotes that it does not itself contain."""
    if not (always or " " in target or target[:1] in _QUOTES):
        return target
    for opening, closing in (('"', '"'), ("“", "”"), ("'", "'"), ("«", "»")):
        if opening not in target and closing not in target:
            return f"{opening}{target}{closing}"
    return target
