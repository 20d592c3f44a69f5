"""Data Query: jobs submitted and polled through `_request`, and their result files.

A result file is a pre-signed URL on another host, so it is fetched by a separate plain client
without Zuora's credentials, only from hosts the settings allow.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.core.url_rules import allowed_url, host_of
from bot.zuora.client.transport import Transport
from bot.zuora.dataquery import (
    QUERY_JOB_PATH,
    QUERY_JOBS_PATH,
    OutputFormat,
    QueryJob,
    QueryResult,
    job_request,
    parse_job,
    parse_result,
    poll_delays,
    validate_job_id,
)
from bot.zuora.errors import ZuoraError, ZuoraInputError, ZuoraQueryError
from bot.zuora.parse import json_or_none
from bot.zuora.retry import compute_delay
from bot.zuora.track import validate_track_id

logger = logging.getLogger(__name__)

DATA_FILE_TIMEOUT = 30.0  # seconds to read a Data Query result file from Zuora's S3
MAX_DATA_FILE_BYTES = 64 * 1024 * 1024
_S3_CODE = re.compile(rb"<Code>([A-Za-z0-9]{1,64})</Code>")


class DataQueries(Transport):
    """Runs Data Query jobs and reads their result files."""

    def submit_query(
        self, query: str, *, track_id: str, output_format: OutputFormat = "JSON"
    ) -> QueryJob:
        """Start a Data Query job (`POST /query/jobs`); the SQL must come from trusted builders."""
        track_id = validate_track_id(track_id)
        if not isinstance(query, str) or not query.strip():
            raise ZuoraInputError("A Data Query needs SQL text")
        response = self._request(
            "POST",
            QUERY_JOBS_PATH,
            track_id=track_id,
            json=job_request(query, output_format),
            idempotent=False,
        )
        return parse_job(json_or_none(response))

    def query_job(self, job_id: str, *, track_id: str) -> QueryJob:
        """The current state of a Data Query job (`GET /query/jobs/{id}`)."""
        track_id = validate_track_id(track_id)
        path = QUERY_JOB_PATH.format(job_id=validate_job_id(job_id))
        response = self._request("GET", path, track_id=track_id, idempotent=True)
        return parse_job(json_or_none(response))

    def cancel_query(self, job_id: str, *, track_id: str) -> None:
        """Ask Zuora to cancel a Data Query job (`DELETE /query/jobs/{id}`)."""
        track_id = validate_track_id(track_id)
        path = QUERY_JOB_PATH.format(job_id=validate_job_id(job_id))
        self._request("DELETE", path, track_id=track_id, idempotent=True)

    def run_query(
        self,
        query: str,
        *,
        track_id: str,
        output_format: OutputFormat = "JSON",
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """Submit a Data Query, wait for it and return the result file's rows (see `query`)."""
        return self.query(
            query, track_id=track_id, output_format=output_format, timeout=timeout
        ).rows

    def query(
        self,
        query: str,
        *,
        track_id: str,
        output_format: OutputFormat = "JSON",
        timeout: float | None = None,
    ) -> QueryResult:
        """Submit a Data Query, poll it with back-off, and return the result file's columns and rows.

        Waits at most `timeout` seconds (default: settings.query_timeout). A job that fails, is
        cancelled or runs out of time raises ZuoraQueryError with Zuora's reason; an overdue job is
        cancelled on the way out. The result file is fetched without Zuora's credentials.
        """
        track_id = validate_track_id(track_id)
        limit = self._settings.query_timeout if timeout is None else timeout
        started = self._timer()
        deadline = started + limit
        job = self.submit_query(query, track_id=track_id, output_format=output_format)
        delays = poll_delays()
        while not job.finished:
            remaining = deadline - self._timer()
            if remaining <= 0:
                self._abandon_query(job, track_id)
                raise ZuoraQueryError(
                    f"Data Query job {job.id} did not finish within {limit:g} s",
                    track_id=track_id,
                )
            self._sleep(min(next(delays), remaining))
            if self._closed:
                raise ZuoraQueryError(
                    "The bot stopped while a Data Query job was running", track_id=track_id
                )
            job = self.query_job(job.id, track_id=track_id)
        if job.status != "completed":
            reason = job.error or "no reason given"
            raise ZuoraQueryError(f"Data Query job {job.status}: {reason}", track_id=track_id)
        if job.data_file is None:
            raise ZuoraQueryError(
                f"Data Query job {job.id} completed without a result file", track_id=track_id
            )
        result = parse_result(self._download(job.data_file, track_id=track_id), output_format)
        logger.info(
            "Data Query job %s: %d rows in %.2f s (track %s)",
            job.id,
            len(result.rows),
            self._timer() - started,
            track_id,
        )
        return result

    def _abandon_query(self, job: QueryJob, track_id: str) -> None:
        """Cancel an overdue job so it stops using the tenant's Data Query capacity (best effort)."""
        try:
            self.cancel_query(job.id, track_id=track_id)
        except ZuoraError as exc:
            logger.info("Could not cancel Data Query job %s: %s", job.id, exc.message)

    def _download(self, url: str, *, track_id: str) -> bytes:
        """GET a pre-signed result file: a plain request, no Zuora auth, its own timeout, retried."""
        if not allowed_url(url, self._settings.result_file_rules):
            # The URL's query holds a signature: only its host is logged.
            logger.warning(
                "Refused Data Query result file URL on %s: not https on a host in "
                "ZUORA_RESULT_FILE_HOSTS (track %s)",
                host_of(url),
                track_id,
            )
            raise ZuoraQueryError(
                "Zuora's result file URL is not https on an allowed file host "
                "(ZUORA_RESULT_FILE_HOSTS)",
                track_id=track_id,
            )
        target = httpx.URL(url)
        # The query string holds the signature: only the host and path are ever logged.
        where = f"{target.host}{target.path[:60]}"
        attempt = 0
        while True:
            try:
                return self._download_once(url, where, track_id)
            except _RetryableDownload as exc:
                if attempt >= self._policy.max_retries:
                    raise ZuoraQueryError(exc.message, track_id=track_id) from exc
                attempt += 1
                delay = compute_delay(
                    attempt,
                    retry_after=None,
                    ratelimit_reset=None,
                    policy=self._policy,
                    rand=self._random(),
                    now=datetime.now(UTC),
                )
                logger.warning(
                    "Retrying the Data Query result file from %s in %.2f s after %s (track %s)",
                    where,
                    delay,
                    exc.message,
                    track_id,
                )
                self._sleep(delay)

    def _download_once(self, url: str, where: str, track_id: str) -> bytes:
        started = self._timer()
        try:
            with self._files_client().stream("GET", url) as response:
                if response.status_code != 200:
                    head = response.read()[:2000]
                    found = _S3_CODE.search(head)
                    detail = f" {found.group(1).decode()}" if found else ""
                    message = (
                        f"Zuora's result file could not be fetched "
                        f"(HTTP {response.status_code}{detail})"
                    )
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _RetryableDownload(message)
                    raise ZuoraQueryError(message, track_id=track_id)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DATA_FILE_BYTES:
                        raise ZuoraQueryError(
                            "Zuora's result file is larger than the bot accepts", track_id=track_id
                        )
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise _RetryableDownload("the result file did not arrive in time") from exc
        except httpx.TransportError as exc:
            raise _RetryableDownload(
                f"the result file host could not be reached ({type(exc).__name__})"
            ) from exc
        logger.debug(
            "Data Query result file from %s: %d bytes in %.0f ms (track %s)",
            where,
            size,
            (self._timer() - started) * 1000,
            track_id,
        )
        return b"".join(chunks)

    def _files_client(self) -> httpx.Client:
        """The HTTP client for result files: no auth, no Zuora headers, no redirects."""
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("ZuoraClient is closed")
            if self._files_http is None:
                self._files_http = httpx.Client(
                    timeout=httpx.Timeout(
                        DATA_FILE_TIMEOUT,
                        connect=self._settings.connect_timeout,
                        pool=self._settings.connect_timeout,
                    ),
                    follow_redirects=False,
                )
            return self._files_http


class _RetryableDownload(Exception):
    """A result-file fetch that may work if tried again (timeout, connection error, 5xx, 429)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
