"""The ready-to-paste calls ``restate-trio dev`` prints, from a registration answer. (The dev
test checks them against a real server's answer; these cover the other shapes.)"""

from __future__ import annotations

from restate_trio._cli._examples import curl_calls

_INGRESS = "http://127.0.0.1:8080"


def test_placeholders_follow_the_input_schema() -> None:
    services: list[dict[str, object]] = [
        {
            "name": "Orders",
            "ty": "Workflow",
            "handlers": [
                {
                    "name": "run",
                    "input_description": "application/json",
                    "input_json_schema": {
                        "type": "object",
                        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                    },
                },
                {"name": "status", "input_description": "none"},
            ],
        },
        {
            "name": "Pricing",
            "ty": "Service",
            "handlers": [{"name": "quote", "input_description": "application/cbor"}],
        },
    ]
    assert curl_calls(services, _INGRESS) == [
        'curl \'http://127.0.0.1:8080/Orders/<key>/run\' --json \'{"sku":"...","qty":0}\'',
        "curl 'http://127.0.0.1:8080/Orders/<key>/status' -X POST",
        "curl http://127.0.0.1:8080/Pricing/quote -H 'content-type: application/cbor' "
        "--data-binary @input",
    ]


def test_unions_take_their_first_option() -> None:
    services: list[dict[str, object]] = [
        {
            "name": "S",
            "ty": "Service",
            "handlers": [
                {
                    "name": "h",
                    "input_description": "JSON value",
                    "input_json_schema": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
                }
            ],
        }
    ]
    assert curl_calls(services, _INGRESS) == ["curl http://127.0.0.1:8080/S/h --json false"]
