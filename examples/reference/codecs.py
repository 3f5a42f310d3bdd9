"""restate_trio.codecs in use: the names the codecs' doctests do not show.

``tests/e2e/test_reference_definitions.py`` serves :data:`endpoint`, calls it and compares the
schema the Restate server was given with :func:`reading_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass

import restate_trio as restate
from restate_trio.codecs import BytesCodec, CodecError, JsonCodec, JsonSchema


@dataclass
class Reading:
    sensor: str
    celsius: float


class Telemetry:
    # [CodecError]
    @restate.handler(input_codec=BytesCodec(), accept="*/*")
    async def ingest(self, ctx: restate.Context, batch: bytes) -> int:
        # One JSON reading per line; skip bad lines rather than fail the batch.
        readings: list[Reading] = []
        for line in batch.splitlines():
            try:
                readings.append(JsonCodec().decode(line, Reading))
            except CodecError as error:  # it names the type and the reason
                ctx.logger.warning("skipped a line: %s", error)
        return len(readings)

    # [/CodecError]

    async def record(self, ctx: restate.Context, reading: Reading) -> str:
        return reading.sensor


# [JsonSchema]
def reading_schema() -> JsonSchema | None:
    # A plain mapping. The discovery manifest carries this schema (its $ref resolved) for
    # Telemetry.record's input, and the Restate UI shows it.
    return JsonCodec().json_schema(Reading)


# [/JsonSchema]

endpoint = restate.Endpoint().bind(restate.reflect(Telemetry()))
