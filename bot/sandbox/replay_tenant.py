"""A sandbox tenant with one big outage: N failed callouts of a single cause among ordinary noise.

Used by the replay tests and `bench/replay.py`: the outage's endpoint and code are fixed, so its
cause id is known before any scan (`OUTAGE_CAUSE`).
"""

from __future__ import annotations

from datetime import datetime

from bot.outages.causes import Cause
from bot.sandbox.tenant import Tenant, build_bulk_tenant

OUTAGE_URL = "https://outage.example/zuora/orders"
OUTAGE_CODE = 503
OUTAGE_CAUSE = Cause("callout", "outage.example/zuora/orders HTTP 503")


def build_outage_tenant(
    *,
    failed: int,
    now: datetime,
    noise: int = 200,
    accounts: int = 300,
    seed: int = 11,
    rest_ids: bool = True,
) -> Tenant:
    """`failed` failed callouts of OUTAGE_CAUSE in the last day, plus about `noise` other records."""
    # build_bulk_tenant fails 19 of every 20 records; ask for enough to pick `failed` of them.
    total = (failed + noise) * 20 // 19 + 20
    tenant = build_bulk_tenant(
        seed=seed,
        now=now,
        callouts=total,
        emails=noise,
        accounts=accounts,
        days=1,
        rest_ids=rest_ids,
    )
    chosen = 0
    for callout in tenant.callouts:
        if chosen >= failed:
            break
        if callout.failed:
            callout.request_url = OUTAGE_URL
            callout.response_code = OUTAGE_CODE
            chosen += 1
    if chosen < failed:
        raise ValueError(f"the bulk tenant had only {chosen} failed callouts")
    return tenant
