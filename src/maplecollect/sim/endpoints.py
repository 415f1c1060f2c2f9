"""The four Nexon paths as a pure function: (path, query) → (status, body).

No keys, limits, latency, faults or maintenance here (the app adds those), so tests can
ask for the exact bytes a request should get (`Simulator.expected_body`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from maplecollect.sim import apierrors
from maplecollect.sim.apierrors import ApiError
from maplecollect.sim.bodies import Bodies
from maplecollect.sim.catalog import ALL_WORLDS, EARLIEST_DATE
from maplecollect.sim.clock import (
    Clock,
    latest_character_date,
    latest_ranking_date,
    parse_api_date,
)
from maplecollect.sim.template import Template, date_json
from maplecollect.sim.world import Character, World, valid_class_filter

RANKING_PATH = "/maplestory/v1/ranking/overall"
ID_PATH = "/maplestory/v1/id"
BASIC_PATH = "/maplestory/v1/character/basic"
ITEM_EQUIPMENT_PATH = "/maplestory/v1/character/item-equipment"

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_OCID_RE = re.compile(r"[0-9a-f]{32}")
_PAGE_RE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


def error_answer(error: ApiError) -> Answer:
    return Answer(error.status, error.body)


Params = Mapping[str, str]


class Endpoints:
    """Validates parameters in the API's order: 00004 (format), 00009 (not ready), 00003 (id)."""

    def __init__(
        self, world: World, bodies: Bodies, clock: Clock, *, null_date_for_latest: bool
    ) -> None:
        self._world = world
        self._bodies = bodies
        self._clock = clock
        self._null_date_for_latest = null_date_for_latest
        self._routes: dict[str, Callable[[Params], Answer]] = {
            RANKING_PATH: self.ranking,
            ID_PATH: self.id,
            BASIC_PATH: partial(self._character, bodies.basic),
            ITEM_EQUIPMENT_PATH: partial(self._character, bodies.item_equipment),
        }

    def resolve(self, path: str, params: Params) -> Answer:
        route = self._routes.get(path)
        if route is None:
            return error_answer(apierrors.INVALID_PATH)
        return route(params)

    # -- dates ---------------------------------------------------------------------------

    def _day_json(
        self, params: Params, latest_of: Callable[[datetime], date], null_for_latest: bool
    ) -> bytes | ApiError:
        """The body's `date`: 00004 when malformed or too early, 00009 when not ready yet."""
        latest = latest_of(self._clock.now())
        raw = params.get("date")
        if raw is None:
            if latest < EARLIEST_DATE:
                return apierrors.DATA_NOT_READY
            return date_json(None if null_for_latest else latest)
        day = parse_api_date(raw)
        if day is None or day < EARLIEST_DATE:
            return apierrors.INVALID_PARAMETER
        return date_json(day) if day <= latest else apierrors.DATA_NOT_READY

    # -- paths ---------------------------------------------------------------------------

    def ranking(self, params: Params) -> Answer:
        page_text = params.get("page", "1")
        if not _PAGE_RE.fullmatch(page_text) or int(page_text) < 1:
            return error_answer(apierrors.INVALID_PARAMETER)
        world_name = params.get("world_name")
        if world_name is not None:
            # world_type is ignored when world_name is given, as in the real API.
            if world_name not in ALL_WORLDS:
                return error_answer(apierrors.INVALID_PARAMETER)
            scope = f"world:{world_name}"
        else:
            world_type = params.get("world_type", "0")
            if world_type not in ("0", "1"):
                return error_answer(apierrors.INVALID_PARAMETER)
            scope = f"type:{world_type}"
        class_filter = params.get("class", "")
        if class_filter and not valid_class_filter(class_filter):
            return error_answer(apierrors.INVALID_PARAMETER)
        ocid = params.get("ocid")
        if ocid is not None and not _OCID_RE.fullmatch(ocid):
            return error_answer(apierrors.INVALID_IDENTIFIER)
        day_json = self._day_json(params, latest_ranking_date, null_for_latest=False)
        if isinstance(day_json, ApiError):
            return error_answer(day_json)
        if ocid is not None:
            template = self._bodies.ranking_of(scope, class_filter, ocid)
        else:
            template = self._bodies.ranking_page(scope, class_filter, int(page_text))
        return Answer(200, template.render(day_json))

    def id(self, params: Params) -> Answer:
        name = params.get("character_name")
        if not name:
            return error_answer(apierrors.INVALID_PARAMETER)
        character = self._world.by_name.get(name)
        if character is None:
            return error_answer(apierrors.INVALID_IDENTIFIER)
        return Answer(200, self._bodies.ocid(character))

    def _character(self, body_of: Callable[[Character], Template], params: Params) -> Answer:
        ocid = params.get("ocid")
        if not ocid:
            return error_answer(apierrors.INVALID_PARAMETER)
        day_json = self._day_json(params, latest_character_date, self._null_date_for_latest)
        if isinstance(day_json, ApiError):
            return error_answer(day_json)
        character = self._world.by_ocid.get(ocid)
        if character is None:
            return error_answer(apierrors.INVALID_IDENTIFIER)
        return Answer(200, body_of(character).render(day_json))
