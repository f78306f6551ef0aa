"""Drawing a survey sample: strata and filters over members' records, proportional allocation, and a
reproducible random choice within each stratum.

Pure: no file, no clock, no key but the sample's seed. A member's place in the
draw is a keyed hash of the seed, the survey and the member id; each stratum
keeps the members with the smallest keys (a bottom-k sample, which is a simple
random sample without replacement), so the same seed on the same register
gives the same sample in any reading order, and memory holds at most the
sample's size per stratum, whatever the register's size.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .crypto import prefixed_sha256
from .errors import InvalidInput, Param
from .model import add_months
from .policy import FieldSpec
from .policy_surveys import NUMERIC, Rest

MISSING = "(none)"  # the stratum of a member with no value for the field: never a value of any field
MAX_STRATA = 500
MAX_SAMPLE = 100_000
MAX_EDGES = 20
NUMBER = re.compile(r"-?[0-9]{1,9}")
SEED = re.compile(r"[A-Za-z0-9._-]{1,64}")
BOOLEAN_WORDS = {"true": "true", "yes": "true", "1": "true", "false": "false", "no": "false", "0": "false"}
Stratum = tuple[str, ...]


@dataclass(frozen=True)
class Stratifier:
    """How one field divides members: by value, by numeric bins (``edges``), or by a postal code's first ``prefix`` digits."""

    path: str
    type: str
    edges: tuple[int, ...] = ()
    prefix: int = 0

    def label(self, value: Any) -> str:
        if value is None:
            return MISSING
        if isinstance(value, bool):
            return "true" if value else "false"
        if self.edges:
            return bin_label(self.edges, value)
        if self.prefix:
            return str(value)[: self.prefix]
        return str(value)

    def labels(self, spec: FieldSpec) -> list[str] | None:
        """Every label this field can give, when the list is closed (else None)."""
        if spec.type == "enum":
            return [*(spec.values or {}), MISSING]
        if spec.type == "boolean":
            return ["true", "false", MISSING]
        if self.edges:
            return [*(bin_label(self.edges, value) for value in (self.edges[0] - 1, *self.edges)), MISSING]
        return None

    def valid_label(self, spec: FieldSpec, text: str) -> bool:
        closed = self.labels(spec)
        if closed is not None:
            return text in closed
        if text == MISSING:
            return True
        if self.prefix:
            return re.fullmatch(rf"[0-9]{{{self.prefix}}}", text) is not None
        return (NUMBER.fullmatch(text) if spec.type in NUMERIC else re.fullmatch(r"[0-9]{5}", text)) is not None

    def describe(self) -> str:
        if self.edges:
            return f"{self.path}:{','.join(str(edge) for edge in self.edges)}"
        return f"{self.path}:{self.prefix}" if self.prefix else self.path


def stratum_order(stratifiers: list[Stratifier], specs: dict[str, FieldSpec]) -> Any:
    """A sort key that lists strata as people read them: values in the policy's order, bins and numbers
    ascending, no value last."""
    closed = [s.labels(specs[s.path]) for s in stratifiers]

    def key(stratum: Stratum) -> tuple[Any, ...]:
        parts = []
        for labels, label in zip(closed, stratum, strict=True):
            if label == MISSING:
                parts.append((2, 0, ""))
            elif labels is not None and label in labels:
                parts.append((0, labels.index(label), ""))
            else:
                parts.append((1, int(label) if NUMBER.fullmatch(label) else 0, label))
        return tuple(parts)

    return key


def bin_label(edges: tuple[int, ...], value: int) -> str:
    """The bin of ``value`` among ``edges`` (each edge starts a bin): ``..1959``, ``1960..1974``, ``1990..``."""
    below = [edge for edge in edges if edge <= value]
    if not below:
        return f"..{edges[0] - 1}"
    start = below[-1]
    following = [edge for edge in edges if edge > start]
    return f"{start}..{following[0] - 1}" if following else f"{start}.."


def parse_strata(texts: Iterable[str], specs: dict[str, FieldSpec], allowed: Iterable[str]) -> list[Stratifier]:
    """``--strata`` as typed: ``FIELD[,FIELD…]``, a numeric field binned with ``FIELD:EDGE,EDGE,…``, a postal code
    grouped by its first digits with ``FIELD:N``. Every problem is listed, naming the option."""
    allowed = list(allowed)
    groups: list[tuple[str, list[str]]] = []
    for token in (part.strip() for text in texts for part in text.split(",")):
        if NUMBER.fullmatch(token) and groups and ":" in groups[-1][0]:
            groups[-1][1].append(token)
        else:
            groups.append((token, []))
    problems: list[tuple[str, str]] = []
    found: list[Stratifier] = []
    for head, more in groups:
        path, colon, first = head.partition(":")
        numbers = ([first] if colon else []) + more
        stratifier, problem = _stratifier(path, bool(colon), numbers, specs, allowed)
        if problem is None and any(s.path == path for s in found):
            problem = "is named twice"
        if problem is not None:
            problems.append((Param("strata"), f"{_shown(path)} {problem}"))
        elif stratifier is not None:
            found.append(stratifier)
    if problems:
        raise InvalidInput("invalid --strata", problems)
    return found


def _shown(path: str) -> str:
    return path if re.fullmatch(r"[a-z0-9_.]{1,80}", path) else "(a field)"


def _stratifier(
    path: str, colon: bool, numbers: list[str], specs: dict[str, FieldSpec], allowed: list[str]
) -> tuple[Stratifier | None, str | None]:
    if path not in allowed:
        return None, f"is not a field surveys.yaml lets a sample use (strata: {', '.join(allowed) or 'none'})"
    spec = specs[path]
    if not colon:
        return Stratifier(path, spec.type), None
    if not numbers or not all(NUMBER.fullmatch(number) for number in numbers):
        return None, "must be followed by numbers after ':'"
    values = [int(number) for number in numbers]
    if spec.type == "postal_code":
        if len(values) != 1 or not 1 <= values[0] <= 5:
            return None, "groups postal codes by their first N digits: give one N from 1 to 5 (such as :2)"
        return Stratifier(path, spec.type, prefix=values[0]), None
    if spec.type not in NUMERIC:
        return None, f"is of type {spec.type}: only numbers are binned"
    if len(values) > MAX_EDGES or any(a >= b for a, b in zip(values, values[1:], strict=False)):
        return None, f"needs edges in increasing order, at most {MAX_EDGES}"
    return Stratifier(path, spec.type, edges=tuple(values)), None


@dataclass(frozen=True)
class Filter:
    """``--where FIELD=VALUE[,VALUE…]``: a member is kept when the field holds any of the values
    (a number or a range ``A..B``, ``..B``, ``A..``; a postal code or its first digits)."""

    path: str
    type: str
    values: tuple[str, ...]

    def keeps(self, value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, bool):
            return ("true" if value else "false") in self.values
        if self.type in NUMERIC:
            return any(_in_range(value, text) for text in self.values)
        if self.type == "postal_code":
            return any(str(value).startswith(text) for text in self.values)
        return str(value) in self.values


def _in_range(value: int, text: str) -> bool:
    low, dots, high = text.partition("..")
    if not dots:
        return value == int(text)
    return (not low or value >= int(low)) and (not high or value <= int(high))


def parse_where(texts: Iterable[str], specs: dict[str, FieldSpec], allowed: Iterable[str]) -> list[Filter]:
    """``--where`` as typed, each ``FIELD=VALUE[,VALUE…]``; every problem listed, naming the option."""
    allowed = list(allowed)
    problems: list[tuple[str, str]] = []
    found: list[Filter] = []
    for text in texts:
        path, equals, rest = (part.strip() for part in text.partition("="))
        values = tuple(value.strip() for value in rest.split(","))
        problem = _filter_problem(path, bool(equals), values, specs, allowed)
        if problem is None and any(f.path == path for f in found):
            problem = "is named twice: give its values as one FIELD=VALUE,VALUE"
        if problem is not None:
            problems.append((Param("where"), f"{_shown(path)} {problem}"))
        else:
            kind = specs[path].type
            found.append(Filter(path, kind, tuple(BOOLEAN_WORDS[v.lower()] for v in values) if kind == "boolean" else values))
    if problems:
        raise InvalidInput("invalid --where", problems)
    return found


def _filter_problem(path: str, equals: bool, values: tuple[str, ...], specs: dict[str, FieldSpec], allowed: list[str]) -> str | None:
    if not equals:
        return "must be FIELD=VALUE"
    if path not in allowed:
        return f"is not a field surveys.yaml lets a sample use (strata: {', '.join(allowed) or 'none'})"
    spec = specs[path]
    if not all(values):
        return "needs a value after '='"
    if spec.type == "enum":
        bad = [value for value in values if value not in (spec.values or {})]
        return f"takes {', '.join(spec.values or {})}" if bad else None
    if spec.type == "boolean":
        return None if all(value.lower() in BOOLEAN_WORDS for value in values) else "takes true or false"
    if spec.type in NUMERIC:
        ranges = [re.fullmatch(r"(-?[0-9]{1,9})?\.\.(-?[0-9]{1,9})?", value) for value in values]
        ok = all(NUMBER.fullmatch(v) or (r is not None and (r[1] or r[2])) for v, r in zip(values, ranges, strict=True))
        return None if ok else "takes a number or a range such as 1960..1974, ..1959 or 1990.."
    return None if all(re.fullmatch(r"[0-9]{1,5}", value) for value in values) else "takes a postal code or its first digits"


# --- choosing ---------------------------------------------------------------------------------------------


def check_seed(seed: str) -> None:
    if not SEED.fullmatch(seed):
        raise InvalidInput("invalid seed", [(Param("seed"), "must be 1 to 64 letters, digits, '.', '_' or '-'")])


def sample_keys(seed: str, survey: str) -> Callable[[str], int]:
    """Each member's place in a sample's draw: the first 8 bytes, big-endian, of
    SHA-256("kss-panel sample\\n" + seed + "\\n" + survey + "\\n" + member id). The seed and the survey
    hold no line feed, so no two of them share a prefix."""
    digest = prefixed_sha256(f"kss-panel sample\n{seed}\n{survey}\n".encode())
    return lambda member_id: int.from_bytes(digest(member_id.encode())[:8], "big")


def stratum_reader(stratifiers: list[Stratifier]) -> Callable[[dict[str, Any]], Stratum]:
    """A record's stratum: each field's label, read straight from the record (the hot loop of a sample)."""
    readers = [_label_reader(s) for s in stratifiers]
    return lambda record: tuple([read(record) for read in readers])


def _label_reader(stratifier: Stratifier) -> Callable[[dict[str, Any]], str]:
    category, _, name = stratifier.path.partition(".")
    edges = list(stratifier.edges)
    bins = [bin_label(stratifier.edges, value) for value in (edges[0] - 1, *edges)] if edges else []

    def read(record: dict[str, Any]) -> str:
        part = record.get(category)
        value = part.get(name) if isinstance(part, dict) else None
        if value is None or isinstance(value, bool) or not bins:
            return stratifier.label(value)
        return bins[bisect_right(edges, value)]

    return read


class Reservoirs:
    """Per stratum, how many members were offered and the ``cap`` with the smallest keys (``cap``: one count
    for every stratum, or a count per stratum, 0 for those not listed). Memory holds at most the caps, however
    many members are offered: the sample's size per stratum."""

    def __init__(self, cap: dict[Stratum, int] | int) -> None:
        self.cap = cap
        self._state: dict[Stratum, list[Any]] = {}  # stratum -> [offered, max-heap of (-key, member id), cap]

    @property
    def counts(self) -> dict[Stratum, int]:
        return {stratum: state[0] for stratum, state in self._state.items()}

    def offer(self, stratum: Stratum, key: int, member_id: str) -> None:
        state = self._state.get(stratum)
        if state is None:
            state = self._new(stratum)
        state[0] += 1
        heap = state[1]
        if len(heap) < state[2]:
            heapq.heappush(heap, (-key, member_id))
        elif heap and -key > heap[0][0]:  # smaller than the largest kept: it takes that one's place
            heapq.heapreplace(heap, (-key, member_id))

    def _new(self, stratum: Stratum) -> list[Any]:
        if len(self._state) >= MAX_STRATA:
            raise InvalidInput("too many strata", [(Param("strata"), f"divide the members into more than {MAX_STRATA} strata: bin them coarser")])
        cap = self.cap if isinstance(self.cap, int) else self.cap.get(stratum, 0)
        self._state[stratum] = state = [0, [], cap]
        return state

    def smallest(self, stratum: Stratum, count: int) -> list[str]:
        state = self._state.get(stratum)
        chosen = sorted((-key, member_id) for key, member_id in (state[1] if state else []))
        return [member_id for _, member_id in chosen[:count]]


def allocate(counts: dict[Stratum, int], size: int) -> dict[Stratum, int]:
    """Proportional allocation of ``size`` across strata of ``counts`` members (the largest remainder method):
    each stratum gets its exact share rounded down, and the members left go to the largest remainders
    (ties to the first stratum in order), so no stratum is more than one member from its share. A size
    over the members there are gives some strata more than they hold: the caller reports them short."""
    total = sum(counts.values())
    if total == 0:
        return {stratum: 0 for stratum in counts}
    shares = {stratum: divmod(size * count, total) for stratum, count in counts.items()}
    given = {stratum: whole for stratum, (whole, _) in shares.items()}
    left = size - sum(given.values())
    for stratum in sorted(counts, key=lambda s: (-shares[s][1], s))[:left]:
        given[stratum] += 1
    return given


def rest_days(rest: Rest, today: date) -> tuple[str, str]:
    """The days after which an invitation counts against the rest period, and against the year's most."""
    return (today - timedelta(days=rest.days)).isoformat(), add_months(today, -12).isoformat()


def quota_counts(columns: tuple[str, ...], rows: Iterable[tuple[int, dict[str, str]]], stratifiers: list[Stratifier],
                 specs: dict[str, FieldSpec]) -> dict[Stratum, int]:
    """A quota file's counts by stratum (labels as the dry run shows them); every problem listed by line."""
    paths = [s.path for s in stratifiers]
    problems = [("line 1", f"no column {path!r}") for path in [*paths, "count"] if path not in columns]
    problems += [("line 1", f"column {_shown(column)!r} is not a field of --strata") for column in columns if column not in [*paths, "count"]]
    if problems:
        raise InvalidInput("the quota's columns are not the strata", problems)
    counts: dict[Stratum, int] = {}
    for line, row in rows:
        stratum = tuple(row[path].strip() for path in paths)
        for stratifier, label in zip(stratifiers, stratum, strict=True):
            if not stratifier.valid_label(specs[stratifier.path], label):
                closed = stratifier.labels(specs[stratifier.path])
                problems.append((f"line {line}: {stratifier.path}", "is not a stratum of " + stratifier.describe()
                                 + (f" (expected one of {', '.join(closed)})" if closed else "")))
        count = row["count"].strip()
        if not re.fullmatch(r"[0-9]{1,6}", count) or int(count) > MAX_SAMPLE:
            problems.append((f"line {line}: count", f"must be a whole number from 0 to {MAX_SAMPLE}"))
        elif stratum in counts:
            problems.append((f"line {line}", "names a stratum a line before it named"))
        else:
            counts[stratum] = int(count)
    total = sum(counts.values())
    if not problems and not 1 <= total <= MAX_SAMPLE:
        problems.append(("count", f"the counts add up to {total}: a sample draws from 1 to {MAX_SAMPLE} members"))
    if problems:
        raise InvalidInput("invalid quota", problems)
    return counts
