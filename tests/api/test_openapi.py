"""/api/v1/openapi.json: a valid OpenAPI 3 document, generated from the code."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from app.cases.vocabulary import IncidentKind, Platform, ReporterRole


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        _, _, section, name = node["$ref"].split("/")
        node = spec["components"][section][name]
    return node


def test_document_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"] == "v1"


def test_every_operation_is_described(spec):
    operations = {(path, method) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}

    assert operations == {
        ("/api/v1/schools/{slug}/reports", "post"),
        ("/api/v1/report", "get"),
        ("/api/v1/report/messages", "post"),
        ("/api/v1/report/evidence", "post"),
    }


def test_case_key_security_scheme(spec):
    scheme = spec["components"]["securitySchemes"]["CaseKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    paths = spec["paths"]
    assert "security" not in paths["/api/v1/schools/{slug}/reports"]["post"]
    for path, method in [("/api/v1/report", "get"), ("/api/v1/report/messages", "post"),
                         ("/api/v1/report/evidence", "post")]:
        operation = paths[path][method]
        assert operation["security"] == [{"CaseKey": []}]
        unauthorised = _resolve(spec, operation["responses"]["401"])
        assert "WWW-Authenticate" in unauthorised["headers"]
        assert "Retry-After" in _resolve(spec, operation["responses"]["429"])["headers"]


def test_request_schemas_carry_the_vocabulary(spec):
    body = spec["paths"]["/api/v1/schools/{slug}/reports"]["post"]["requestBody"]
    report = _resolve(spec, body["content"]["application/json"]["schema"])
    props = report["properties"]

    assert set(report["required"]) == {"is_danger", "is_self_harm", "details", "reporter_role"}
    assert report["additionalProperties"] is False
    assert props["kinds"]["items"]["enum"] == [k.value for k in IncidentKind]
    assert props["platforms"]["items"]["enum"] == [p.value for p in Platform]
    assert props["reporter_role"]["enum"] == [r.value for r in ReporterRole]
    assert props["details"]["maxLength"] == 10_000 and props["details"]["minLength"] == 1
    assert props["handles"]["maxItems"] == 20
    handle = _resolve(spec, props["handles"]["items"])
    assert handle["properties"]["platform"]["enum"] == [p.value for p in Platform]
    upload = spec["paths"]["/api/v1/report/evidence"]["post"]["requestBody"]["content"]
    assert _resolve(spec, upload["multipart/form-data"]["schema"])["properties"]["file"] == {
        "type": "string", "format": "binary"}


def test_errors_are_documented_as_problem_json(spec):
    problem_schema = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem_schema["properties"])
    field_error = _resolve(spec, problem_schema["properties"]["errors"]["items"])
    assert set(field_error["properties"]) == {"field", "reason"}
    expected = {
        ("/api/v1/schools/{slug}/reports", "post"): {"400", "404", "422", "429"},
        ("/api/v1/report", "get"): {"401", "429"},
        ("/api/v1/report/messages", "post"): {"400", "401", "422", "429"},
        ("/api/v1/report/evidence", "post"): {"401", "413", "422", "429"},
    }
    for (path, method), statuses in expected.items():
        responses = spec["paths"][path][method]["responses"]
        for status in statuses | {"default"}:
            content = _resolve(spec, responses[status])["content"]
            assert list(content) == ["application/problem+json"], (path, status)
            assert _resolve(spec, content["application/problem+json"]["schema"]) == problem_schema


def test_document_is_generated_from_the_code(app, spec):
    # Every API route the app serves is in the document, and nothing else.
    routes = {(rule.rule, method.lower()) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("api.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path.replace("{slug}", "<slug>"), method)
                  for path, item in spec["paths"].items() for method in item
                  if method != "parameters"}

    assert routes == documented
