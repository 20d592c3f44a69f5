"""One sandbox account whose failed callouts show every state of Zuora's own retries.

Zuora documents (callout settings and overview) that it retries 1xx, 403, 408, 429, 5xx and
negative codes up to the attempt limit (3 by default), at least 30 minutes apart, and never sends
or retries a -2000 (invalid custom body). The records here follow that, with the fake Data Query's
AttemptLimit (3): two callouts Zuora still retries (attempt 1 of 3 ten minutes ago, 503; attempt 2
of 3 forty minutes ago, 429), two it gave up on (500 and -1 after 3 of 3), a -2000, a 404 and a
failed 200 it never retries. `add_retry_account` adds them (and the account) to any tenant.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.sandbox.tenant import ContextStyle, FakeAccount, FakeCallout, Tenant

RETRY_ACCOUNT_NAME = "Retry Works Ltd"
RETRY_URL = "https://hooks.retryworks.example/zuora/{path}"


@dataclass(frozen=True)
class _Shape:
    """One record: minutes before now, response code, attempts so far, URL path, Zuora's answer."""

    minutes: int
    code: int
    attempts: int
    path: str
    content: str


SHAPES = (
    _Shape(10, 503, 1, "invoice", "<html><body>503 Service Unavailable</body></html>"),
    _Shape(40, 429, 2, "payment", '{"error":"rate limited, retry later"}'),
    _Shape(75, -2000, 1, "sub", "Invalid custom request body: unknown merge field <Account.Foo>"),
    _Shape(120, 404, 1, "renewal", "<html><body>404 Not Found</body></html>"),
    _Shape(150, 200, 1, "amendment", '{"success": false, "message": "order not found"}'),
    _Shape(180, 500, 3, "invoice", "Internal Server Error"),
    _Shape(300, -1, 3, "refund", "connect ETIMEDOUT 198.51.100.7:443"),
)
_CATEGORY = {"invoice": 1110, "payment": 2120, "sub": 1210, "renewal": 1220}
_NAMES = {1110: "Invoice Posted", 2120: "Payment Receipt", 1210: "New Subscription Created"}


def _hex(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:32]


def add_retry_account(tenant: Tenant, now: datetime) -> FakeAccount:
    """Add RETRY_ACCOUNT_NAME with one failed callout per retry state; returns the account."""
    index = len(tenant.accounts)
    account = FakeAccount(
        id=_hex("retry-account", index),
        number=f"A{index + 1:08d}",
        name=RETRY_ACCOUNT_NAME,
        bill_to_email="ap@retryworks.example",
        slug="retryworks",
        history_id=_hex("retry-history", index),
    )
    tenant.accounts.append(account)
    for n, shape in enumerate(SHAPES):
        category = _CATEGORY.get(shape.path, 1310)
        tenant.add_callout(
            FakeCallout(
                id=_hex("retry-callout", index, n),
                create_time=(now - timedelta(minutes=shape.minutes)).replace(microsecond=0),
                event_category=category,
                notification=_NAMES.get(category, "Amendment Processed"),
                request_url=RETRY_URL.format(path=shape.path),
                response_code=shape.code,
                attempted_num=shape.attempts,
                response_content=shape.content,
                event_id=_hex("retry-event", index, n),
                object_id=_hex("retry-object", index, n),
                account=account,
                context_style=ContextStyle.ACCOUNT,
            )
        )
    return account
