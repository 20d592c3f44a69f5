"""Status mapping, the one place: a Zuora answer becomes the ZuoraError it stands for."""

from __future__ import annotations

import re
from typing import Any

import httpx

from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraNotFoundError,
    ZuoraRateLimitError,
    ZuoraReason,
    ZuoraServerError,
    ZuoraStatusError,
)
from bot.zuora.parse import body_text, json_or_none

_SUCCESS_FALSE = re.compile(rb'"success"\s*:\s*false')


def raise_for_status(response: httpx.Response, track_id: str | None) -> None:
    """Raise the ZuoraError a response stands for; return for a 2xx that is not `success: false`."""
    status = response.status_code
    request = response.request
    what = f"{request.method} {request.url.path}"
    if 200 <= status < 300:
        reasons = _failure_reasons(response)
        if reasons is not None:
            raise _reasons_error(reasons, response, what, track_id)
        return
    body = body_text(response)
    reasons = _reasons_of(json_or_none(response))
    detail = "; ".join(r.message for r in reasons if r.message)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        raise ZuoraAuthError(
            "Zuora rejected the bot's access token (401); check ZUORA_CLIENT_ID / "
            "ZUORA_CLIENT_SECRET",
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status == 403:
        raise ZuoraAuthError(
            _forbidden_message(request.url.path),
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status == 404:
        raise ZuoraNotFoundError(
            f"Zuora found nothing at {what}{suffix}",
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status == 429:
        raise ZuoraRateLimitError(
            f"Zuora is throttling the bot (429 on {what}); try again shortly",
            retry_after=_seconds(response.headers.get("Retry-After")),
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    if status >= 500:
        raise ZuoraServerError(
            f"Zuora failed on its side ({status} on {what})",
            status_code=status,
            track_id=track_id,
            reasons=reasons,
            body=body,
        )
    raise ZuoraStatusError(
        f"Zuora answered {status} to {what}{suffix}",
        status_code=status,
        track_id=track_id,
        reasons=reasons,
        body=body,
    )


def _reasons_error(
    reasons: tuple[ZuoraReason, ...], response: httpx.Response, what: str, track_id: str | None
) -> ZuoraStatusError:
    """The error for HTTP 200 with success=false, by the category in the codes' last two digits."""
    categories = {reason.code[-2:] for reason in reasons if reason.code}
    detail = "; ".join(r.message for r in reasons if r.message) or "no reason given"
    common: dict[str, Any] = {
        "status_code": response.status_code,
        "track_id": track_id,
        "reasons": reasons,
        "body": body_text(response),
    }
    if "40" in categories:
        return ZuoraNotFoundError(f"Zuora found nothing for {what}: {detail}", **common)
    if "70" in categories:
        return ZuoraRateLimitError(f"Zuora is over its concurrency limit: {detail}", **common)
    if "61" in categories:
        return ZuoraServerError(f"Zuora had a temporary error: {detail}", **common)
    if categories & {"10", "11"}:
        return ZuoraAuthError(f"Zuora refused {what}: {detail}", **common)
    return ZuoraStatusError(f"Zuora could not do {what}: {detail}", **common)


def _forbidden_message(path: str) -> str:
    if path.endswith("/resend"):
        return (
            "Zuora refused the resend (403): the Zuora API user needs "
            "'Events & Notifications Resend Access'"
        )
    if "/notification-history/" in path:
        return (
            "Zuora refused to list notification history (403): the Zuora API user needs "
            "'Events & Notifications View Access'"
        )
    return "Zuora refused the request (403): the Zuora API user lacks a permission it needs"


def _failure_reasons(response: httpx.Response) -> tuple[ZuoraReason, ...] | None:
    """Zuora's reasons when a 2xx body says `"success": false`, else None."""
    content = response.content
    if not content or not _SUCCESS_FALSE.search(content):
        return None
    body = json_or_none(response)
    if not isinstance(body, dict) or body.get("success") is not False:
        return None
    return _reasons_of(body) or (ZuoraReason(code="", message="Zuora reported success=false"),)


def _reasons_of(body: object) -> tuple[ZuoraReason, ...]:
    """Reasons from any of Zuora's error shapes: reasons[], Errors[], {code, message}, {message}."""
    if not isinstance(body, dict):
        return ()
    items = body.get("reasons") or body.get("Errors")
    if not isinstance(items, list):
        items = [body] if ("message" in body or "Message" in body) else []
    reasons = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("code", item.get("Code"))
            message = item.get("message", item.get("Message"))
            reasons.append(
                ZuoraReason(
                    code="" if code is None else str(code),
                    message="" if message is None else str(message)[:500],
                )
            )
    return tuple(reasons)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
