"""The ready-to-paste calls ``restate-trio dev`` prints, from a registration answer. (The dev
test checks them against a real server's answer; these cover the other shapes.)"""

from __future__ import annotations

from restate_trio._cli._examples import curl_calls, input_content_types

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


def test_the_manifests_content_type_wins_over_the_servers_description() -> None:
    # restate-server describes a CBOR input that has a JSON schema as "JSON 'Order'"; the
    # endpoint's manifest says what the ingress expects.
    services: list[dict[str, object]] = [
        {
            "name": "Pricing",
            "ty": "Service",
            "handlers": [
                {
                    "name": "quote",
                    "input_description": "JSON 'Order'",
                    "input_json_schema": {"type": "object", "properties": {}},
                },
                {"name": "ping", "input_description": "none"},
            ],
        }
    ]
    manifest = {
        "services": [
            {
                "name": "Pricing",
                "handlers": [
                    {"name": "quote", "input": {"contentType": "application/cbor"}},
                    {"name": "ping", "input": {}},
                ],
            }
        ]
    }
    types = input_content_types(manifest)
    assert types == {("Pricing", "quote"): "application/cbor"}
    assert curl_calls(services, _INGRESS, types) == [
        "curl http://127.0.0.1:8080/Pricing/quote -H 'content-type: application/cbor' "
        "--data-binary @input",
        "curl http://127.0.0.1:8080/Pricing/ping -X POST",
    ]
    assert input_content_types(None) == {}
    assert input_content_types({"services": "nonsense"}) == {}
