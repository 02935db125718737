"""The client's latency and batching knobs, one frozen object with measured defaults.

Why these and not others: on the path send → route → receive → 01 back the
client's own share of the time goes to (measured with ``python -m bench.bench_e2e --probe``)

- the inbox's fetch wait: how long the broker may hold a fetch that found nothing
  (on the embedded Tansu a record produced meanwhile arrives after 1–5 ms at
  20 ms, 9 ms at 100 ms, and 208 ms at aiokafka's default of 500 ms). Lower is
  not better on a loaded machine: at 5 ms, while busy, each client spent about
  35 ms more CPU a second at 20 documents/s and the end-to-end p50 did not drop
  (the router's hops slowed on the 2 shared cores); an idle client makes about 45
  empty fetches a second at 20 ms (130 at 5);
- the producer's linger: a send waited for company that long before going out
  (5 ms cost 6.5–8 ms per publication, 0 ms 0.5–3 ms; concurrent sends are
  batched anyway while a request is on its way);
- the fsync of every commit of the local stores, which group commit shares among
  concurrent writes (``max_group`` writes at most per transaction);
- how many records one inbox read takes (verified together, their bookkeeping
  committed together, one offset commit).

Settings-style: ``ClientTuning()`` holds the defaults ``edx up`` and the benchmarks
use; :meth:`ClientTuning.from_env` reads ``EDX_CLIENT_*`` overrides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from agency_client.errors import ClientSettingError

__all__ = ["ClientTuning"]


@dataclass(frozen=True)
class ClientTuning:
    """How the client trades idle work for latency, and batches its work."""

    #: Milliseconds the broker may hold an inbox fetch that found nothing.
    fetch_max_wait_ms: int = 20
    #: Milliseconds the producer waits to fill a batch (0: publish at once).
    linger_ms: int = 0
    #: Records one inbox read takes at most.
    max_batch: int = 200
    #: Writes of the local stores committed in one transaction at most.
    max_group: int = 256

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name in {"fetch_max_wait_ms", "linger_ms"} else 1
            if not isinstance(value, int) or value < minimum:
                why = f"{value!r} is not a whole number >= {minimum}"
                raise ClientSettingError(field.name, why)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientTuning:
        """The defaults with ``EDX_CLIENT_<FIELD>`` variables applied (``EDX_CLIENT_LINGER_MS``)."""
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for field in fields(cls):
            raw = env.get(f"EDX_CLIENT_{field.name.upper()}")
            if raw:
                try:
                    values[field.name] = int(raw)
                except ValueError as exc:
                    raise ClientSettingError(
                        field.name, f"EDX_CLIENT_{field.name.upper()}={raw!r} is not a number"
                    ) from exc
        return replace(cls(), **values)
