"""The deterministic simulated world: characters, their names and ocids, and the rankings.

Everything is drawn from one `random.Random(seed)` stream in a fixed order, so the same
`SimConfig` world fields give the same world (and the same bytes) on every run.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from maplecollect.sim.catalog import (
    ALL_ADVANCEMENTS,
    GUILD_NAMES,
    JOBS_BY_CLASS,
    LATIN_NAME_ALPHABET,
    NAME_SYLLABLES,
    WORLD_WEIGHTS,
    Job,
    world_type_of,
)
from maplecollect.sim.config import SimConfig

MIN_LEVEL = 200
MAX_LEVEL = 300
WORLD_TYPES = (0, 1)


@dataclass(frozen=True, slots=True)
class Character:
    """One character. `ranking_name` is what the ranking shows; `name` is what `/id` knows."""

    index: int
    ocid: str
    name: str
    ranking_name: str
    world_name: str
    world_type: int
    job: Job
    level: int
    exp: int
    exp_rate: str
    popularity: int
    guild: str | None
    gender: str
    date_create: date
    access_flag: bool
    liberation_quest_clear: str
    empty: bool
    equip_seed: int

    @property
    def renamed(self) -> bool:
        """Renamed after the ranking was taken: the ranking's name no longer resolves."""
        return self.name != self.ranking_name


def make_ocid(seed: int, index: int) -> str:
    """32 hex characters like the real ocids; stable for (seed, index)."""
    return hashlib.blake2b(f"maplecollect-sim:{seed}:{index}".encode(), digest_size=16).hexdigest()


def _exp_to_next(level: int) -> int:
    return int(2_200_000_000 * 1.065 ** (level - MIN_LEVEL))


def _name_source(rng: random.Random) -> Callable[[], str]:
    """Globally unique names (as in KMS): mostly 2-6 Hangul syllables, some Latin."""
    used: set[str] = set()

    def take() -> str:
        while True:
            if rng.random() < 0.8:
                name = "".join(rng.choices(NAME_SYLLABLES, k=rng.randint(2, 6)))
            else:
                name = "".join(rng.choices(LATIN_NAME_ALPHABET, k=rng.randint(4, 12)))
            if name not in used:
                used.add(name)
                return name

    return take


class World:
    """Characters plus the lookups every endpoint needs (by ocid, by current name, ranked)."""

    def __init__(self, config: SimConfig) -> None:
        self.seed = config.seed
        self.characters: tuple[Character, ...] = tuple(_generate(config))
        self.by_ocid: dict[str, Character] = {c.ocid: c for c in self.characters}
        self.by_name: dict[str, Character] = {c.name: c for c in self.characters}
        self.min_level = min(c.level for c in self.characters)
        self.max_level = max(c.level for c in self.characters)
        ordered = sorted(self.characters, key=lambda c: (-c.level, -c.exp, c.index))
        self._rankings: dict[tuple[str, str], tuple[Character, ...]] = {
            (f"type:{t}", ""): tuple(c for c in ordered if c.world_type == t) for t in WORLD_TYPES
        }
        self._positions: dict[tuple[str, str], dict[str, int]] = {}

    def ranking(self, scope: str, class_filter: str = "") -> tuple[Character, ...]:
        """Ranked characters of a scope (`type:0`, `type:1` or `world:<name>`), filtered by class.

        `class_filter` is "", "<class_name>-전체 전직" or "<class_name>-<sub_class_name>";
        callers validate it first with `valid_class_filter`.
        """
        key = (scope, class_filter)
        rows = self._rankings.get(key)
        if rows is None:
            if class_filter:
                base = self.ranking(scope)
                rows = tuple(c for c in base if _class_matches(c.job, class_filter))
            else:
                world_name = scope.removeprefix("world:")
                base = self._rankings[(f"type:{world_type_of(world_name)}", "")]
                rows = tuple(c for c in base if c.world_name == world_name)
            self._rankings[key] = rows
        return rows

    def position(self, scope: str, class_filter: str, ocid: str) -> int | None:
        """0-based place of a character in a ranking, or None when it is not in it."""
        key = (scope, class_filter)
        index = self._positions.get(key)
        if index is None:
            rows = self.ranking(scope, class_filter)
            index = self._positions[key] = {c.ocid: i for i, c in enumerate(rows)}
        return index.get(ocid)

    def summary(self) -> dict[str, Any]:
        """Ground truth a complete snapshot must match (the `/_sim/world` body)."""
        ranked_names = {c.ranking_name for c in self.characters}
        return {
            "characters": len(self.characters),
            "rankingRows": {str(t): len(self.ranking(f"type:{t}")) for t in WORLD_TYPES},
            "distinctNames": len(ranked_names),
            "renamedNames": sum(1 for c in self.characters if c.renamed),
            "emptyCharacters": sum(1 for c in self.characters if c.empty),
            "seed": self.seed,
        }


def valid_class_filter(value: str) -> bool:
    """Whether `value` names a class family (and optionally one advancement) that exists."""
    group, sep, sub = value.partition("-")
    if not sep:
        return False
    jobs = [j for j in JOBS_BY_CLASS.values() if j.class_name == group]
    if not jobs:
        return False
    return sub == ALL_ADVANCEMENTS or (sub != "" and any(j.sub_class_name == sub for j in jobs))


def _class_matches(job: Job, class_filter: str) -> bool:
    group, _, sub = class_filter.partition("-")
    return job.class_name == group and sub in (ALL_ADVANCEMENTS, job.sub_class_name)


def _pick_indices(rng: random.Random, population: Sequence[int], count: int) -> set[int]:
    return set(rng.sample(population, count)) if count else set()


def _generate(config: SimConfig) -> list[Character]:
    rng = random.Random(config.seed)
    n = config.characters
    take_name = _name_source(rng)
    worlds = list(config.worlds)
    weights = [WORLD_WEIGHTS[w] for w in worlds]
    jobs = [JOBS_BY_CLASS[c] for c in config.classes]

    # Exact counts (not per-character coin flips) so small test worlds still have some.
    renamed = _pick_indices(rng, range(n), round(config.renamed_fraction * n))
    rest = [i for i in range(n) if i not in renamed]
    empty = _pick_indices(rng, rest, min(len(rest), round(config.empty_fraction * n)))

    epoch = date(2005, 1, 1)
    span_days = (date(2023, 12, 1) - epoch).days
    out: list[Character] = []
    for i in range(n):
        ranking_name = take_name()
        name = take_name() if i in renamed else ranking_name
        world_name = rng.choices(worlds, weights)[0]
        level = min(MAX_LEVEL, MIN_LEVEL + int(rng.betavariate(2.0, 3.5) * 101))
        needed = _exp_to_next(level)
        exp = rng.randrange(needed)
        popularity = int(rng.expovariate(1 / 150))
        if rng.random() < 0.05:
            popularity -= rng.randrange(50)  # popularity can go negative
        liberation = "2" if level >= 280 else rng.choice(("0", "1", "1", "2"))
        out.append(
            Character(
                index=i,
                ocid=make_ocid(config.seed, i),
                name=name,
                ranking_name=ranking_name,
                world_name=world_name,
                world_type=world_type_of(world_name),
                job=rng.choice(jobs),
                level=level,
                exp=exp,
                exp_rate=f"{exp * 100 / needed:.3f}",
                popularity=popularity,
                guild=rng.choice(GUILD_NAMES) if rng.random() < 0.75 else None,
                gender=rng.choice(("남", "여")),
                date_create=epoch + timedelta(days=rng.randrange(span_days)),
                access_flag=rng.random() < 0.8,
                liberation_quest_clear=liberation,
                empty=i in empty,
                equip_seed=rng.getrandbits(32),
            )
        )
    return out
