"""Parse Zuora response bodies into models; a 2xx body we cannot read is ZuoraResponseValidationError."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.zuora.errors import ZuoraResponseValidationError
from bot.zuora.models import Account, Page, ResendFailure, ZuoraModel

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=ZuoraModel)
_BODY_LIMIT = 2_000


class _BasicInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    account_number: str = Field(alias="accountNumber", min_length=1)
    name: str
    status: str | None = None


def parse_account(response: httpx.Response, track_id: str) -> Account:
    body = json_body(response, track_id)
    try:
        info = _BasicInfo.model_validate(body.get("basicInfo") if isinstance(body, dict) else None)
    except ValidationError as exc:
        raise ZuoraResponseValidationError(
            f"Zuora's account answer lacks basicInfo id/accountNumber/name ({exc.error_count()} "
            "problems)",
            track_id=track_id,
        ) from exc
    return Account(id=info.id, number=info.account_number, name=info.name, status=info.status)


def parse_page(
    response: httpx.Response,
    list_key: str,
    model: type[M],
    page: int,
    track_id: str,
    context: dict[str, Any],
) -> Page[M]:
    """Validate one list page; `has_more` is whether Zuora sent a nextPage (never followed)."""
    body = json_body(response, track_id)
    if not isinstance(body, dict):
        raise ZuoraResponseValidationError(
            f"Zuora's {list_key} answer is not a JSON object", track_id=track_id
        )
    raw = body.get(list_key)
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ZuoraResponseValidationError(f"Zuora's {list_key} is not a list", track_id=track_id)
    items: list[M] = []
    for position, item in enumerate(raw):
        try:
            items.append(model.model_validate(item, context=context))
        except ValidationError as exc:
            fields = sorted({".".join(map(str, err["loc"])) for err in exc.errors()})
            raise ZuoraResponseValidationError(
                f"Zuora's {list_key} record {position} on page {page} is not understood "
                f"(fields: {', '.join(fields)[:200]})",
                track_id=track_id,
            ) from exc
    return Page(items=items, page=page, has_more=bool(body.get("nextPage")))


def parse_resend(
    response: httpx.Response, chunk: Sequence[str], track_id: str
) -> dict[str, ResendFailure] | None:
    """The ids of `chunk` Zuora did not resend, with why: 202 empty, 202 map, or 400 map.

    None for a 400 that is not the id map: that is a real error for the caller to raise.
    """
    if response.status_code == 400:
        failures = failure_map(json_or_none(response))
        if failures is None:
            return None
        batch = ResendFailure(code="Rejected", message="Zuora rejected the whole batch")
        return {history_id: failures.get(history_id, batch) for history_id in chunk}
    if not response.content.strip():
        return {}
    failures = failure_map(json_body(response, track_id))
    if failures is None:
        raise ZuoraResponseValidationError(
            "Zuora's resend answer is neither empty nor a map of failed ids", track_id=track_id
        )
    wanted = set(chunk)
    unknown = [history_id for history_id in failures if history_id not in wanted]
    if unknown:
        logger.warning("Zuora's resend answer names %d ids we did not send", len(unknown))
    return {history_id: failures[history_id] for history_id in chunk if history_id in failures}


def failure_map(body: object) -> dict[str, ResendFailure] | None:
    """`{"<id>": {"code", "message"}}` as ResendFailures, or None if the body is not that shape."""
    if not isinstance(body, dict):
        return None
    failures: dict[str, ResendFailure] = {}
    for history_id, entry in body.items():
        if history_id == "success" and isinstance(entry, bool):
            continue
        if not isinstance(entry, dict):
            return None
        code, message = entry.get("code"), entry.get("message")
        failures[str(history_id)] = ResendFailure(
            code="" if code is None else str(code),
            message="" if message is None else str(message)[:500],
        )
    return failures


def json_body(response: httpx.Response, track_id: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ZuoraResponseValidationError(
            f"Zuora's answer to {response.request.url.path} is not JSON", track_id=track_id
        ) from exc


def json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def body_text(response: httpx.Response) -> str:
    try:
        return response.text[:_BODY_LIMIT]
    except (UnicodeDecodeError, LookupError):
        return ""
