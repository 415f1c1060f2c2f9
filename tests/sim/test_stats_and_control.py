"""`/_sim/stats`, `/_sim/world` and `/_sim/config` over HTTP."""

from __future__ import annotations

import pytest

from maplecollect.sim import BASIC_PATH, ID_PATH, RANKING_PATH, Simulator

from .helpers import DAY, Api


async def test_counts_per_path_and_status(api: Api, simulator: Simulator) -> None:
    ocid = simulator.world.characters[0].ocid
    await api.get(RANKING_PATH, {"date": DAY})
    await api.get(RANKING_PATH, {"date": DAY, "page": "2"})
    await api.get(RANKING_PATH, {"date": "bad"})
    await api.get(ID_PATH, {"character_name": "없는이름"})
    await api.get(BASIC_PATH, {"ocid": ocid, "date": DAY}, key=None)
    await api.sim("/_sim/world")  # introspection is not counted
    stats = (await api.sim("/_sim/stats")).json()
    assert stats["requests"] == {
        RANKING_PATH: {"200": 2, "400": 1},
        ID_PATH: {"400": 1},
        BASIC_PATH: {"400": 1},
    }
    assert stats["total"] == 5
    assert set(stats["maxPerSecond"]) == {"test-key"}
    assert 1 <= stats["maxPerSecond"]["test-key"] <= 4


async def test_reset(api: Api) -> None:
    await api.get(RANKING_PATH, {"date": DAY})
    reply = await api.sim("/_sim/stats/reset")
    assert reply.status == 200
    assert reply.json() == {"requests": {}, "maxPerSecond": {}, "total": 0}
    assert (await api.sim("/_sim/stats")).json()["total"] == 0


async def test_world_endpoint_needs_no_key(api: Api, simulator: Simulator) -> None:
    reply = await api.sim("/_sim/world")
    assert reply.status == 200
    assert reply.json() == simulator.world_summary()
    assert set(reply.json()) == {
        "characters",
        "rankingRows",
        "distinctNames",
        "renamedNames",
        "emptyCharacters",
        "seed",
    }


async def test_config_round_trip(api: Api) -> None:
    before = (await api.sim("/_sim/config")).json()
    patch = {
        "latency": {"p50Ms": 5, "p99Ms": 50},
        "apiKeys": {"second": None},
        "forbiddenKeys": ["third"],
    }
    after = (await api.sim("/_sim/config", patch)).json()
    assert after["latency"] == {"p50Ms": 5.0, "p99Ms": 50.0}
    assert after["apiKeys"] == {**before["apiKeys"], "second": None}
    assert after["forbiddenKeys"] == ["third"]
    assert (await api.get(ID_PATH, {"character_name": "x"}, key="second")).status == 400
    removed = (await api.sim("/_sim/config", {"removeApiKeys": ["second"]})).json()
    assert "second" not in removed["apiKeys"]
    reply = await api.get(ID_PATH, {"character_name": "x"}, key="second")
    assert reply.error_name == "OPENAPI00005"


@pytest.mark.parametrize(
    "patch",
    [
        {"unknownKnob": 1},
        {"latency": {"p50Ms": 50, "p99Ms": 5}},
        {"apiKeys": {"k": -1}},
        {"apiKeys": {"": 5}},
        {"now": "yesterday"},
        {"faults": {"errorRate": "often"}},
    ],
)
async def test_invalid_patches_are_refused_whole(api: Api, patch: dict[str, object]) -> None:
    before = (await api.sim("/_sim/config")).json()
    reply = await api.sim("/_sim/config", {"gameMaintenance": True, **patch})
    assert reply.status == 400
    assert isinstance(reply.json()["error"], str)
    assert (await api.sim("/_sim/config")).json() == before


async def test_patch_must_be_json(api: Api) -> None:
    async with api.session.post("/_sim/config", data=b"{not json") as resp:
        assert resp.status == 400
