import pytest

from maplecollect.nexon.classify import NO_RESPONSE, Action, classify, http_code

# (HTTP status, error.name, body is JSON) -> action. docs/nexon-client.md, plus its documented fallbacks.
TABLE = [
    (200, None, True, Action.SUCCESS),
    (200, None, False, Action.RETRY),  # invalid JSON in a 200: transport-ish
    (500, "OPENAPI00001", True, Action.RETRY),
    (403, "OPENAPI00002", True, Action.RUN_FAIL),
    (400, "OPENAPI00003", True, Action.RECORD_FAIL),
    (400, "OPENAPI00004", True, Action.RECORD_FAIL),
    (400, "OPENAPI00005", True, Action.RUN_FAIL),
    (400, "OPENAPI00006", True, Action.RUN_FAIL),
    (429, "OPENAPI00007", True, Action.RETRY_SLOW_DOWN),
    (400, "OPENAPI00009", True, Action.PAUSE),
    (400, "OPENAPI00010", True, Action.PAUSE),
    (503, "OPENAPI00011", True, Action.PAUSE),
    (200, "OPENAPI00003", True, Action.RECORD_FAIL),  # the name decides, not the status
    (200, "OPENAPI00001", True, Action.RETRY),  # a 200 with an error object: by its name
    (200, "OPENAPI00009", True, Action.PAUSE),
    (200, "OPENAPI00005", True, Action.RUN_FAIL),
    (200, "OPENAPI99999", True, Action.RECORD_FAIL),
    (NO_RESPONSE, None, False, Action.RETRY),  # transport error / timeout
    (502, None, False, Action.RETRY),  # non-JSON 5xx from a gateway
    (504, None, False, Action.RETRY),
    (500, None, True, Action.RETRY),  # JSON 5xx without a Nexon error
    (408, None, False, Action.RETRY),
    (429, None, False, Action.RETRY_SLOW_DOWN),
    (404, None, False, Action.RECORD_FAIL),
    (302, None, False, Action.RECORD_FAIL),  # redirects are not followed
    (500, "OPENAPI99999", True, Action.RETRY),  # unknown name: 5xx retries
    (429, "OPENAPI99999", True, Action.RETRY_SLOW_DOWN),
    (400, "OPENAPI99999", True, Action.RECORD_FAIL),  # unknown name: 4xx fails the key
]


@pytest.mark.parametrize(("status", "name", "json_body", "expected"), TABLE)
def test_classification_table(
    status: int, name: str | None, json_body: bool, expected: Action
) -> None:
    assert classify(status, name, json_body=json_body) is expected


def test_a_2xx_json_body_of_another_shape_fails_the_key() -> None:
    assert classify(200, None, json_body=True, expected_shape=False) is Action.RECORD_FAIL
    assert classify(200, None, json_body=False, expected_shape=False) is Action.RETRY


@pytest.mark.parametrize(
    ("status", "code"), [(502, "HTTP_5XX"), (404, "HTTP_4XX"), (302, "HTTP_3XX")]
)
def test_http_codes_of_answers_without_a_nexon_error(status: int, code: str) -> None:
    assert http_code(status) == code
