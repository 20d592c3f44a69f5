"""The sandbox tenant's opt-in outage: one endpoint down for two hours across 30 accounts and one
bouncing mail domain, added without changing any other record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.sandbox.tenant import (
    BOUNCE_DOMAIN,
    BOUNCE_LAST_AGO,
    OUTAGE_ACCOUNTS,
    RECOVERED_AFTER,
    RECOVERED_DELIVERIES,
    build_tenant,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def wire(tenant):  # every record as Zuora lists it, to compare tenants
    zone = tenant.zone
    return (
        [c.to_wire(zone, include_id=True) for c in tenant.callouts],
        [e.to_wire(zone, include_id=True) for e in tenant.emails],
        [a.to_wire() for a in tenant.accounts],
    )


def test_tenant_without_outage_is_unchanged_and_with_it_keeps_every_other_record() -> None:
    plain = build_tenant(seed=7, now=NOW)
    assert wire(plain) == wire(build_tenant(seed=7, now=NOW, outage=False))
    broken = build_tenant(seed=7, now=NOW, outage=True)
    callouts, emails, accounts = wire(broken)
    plain_callouts, plain_emails, plain_accounts = wire(plain)
    assert accounts[: len(plain_accounts)] == plain_accounts
    assert [c for c in callouts if "ledgerlink" not in c["requestUrl"]] == plain_callouts
    assert [e for e in emails if BOUNCE_DOMAIN not in e["toEmail"]] == plain_emails
    assert broken.resend_failures == plain.resend_failures
    assert wire(broken) == wire(build_tenant(seed=7, now=NOW, outage=True))


def test_outage_is_one_endpoint_down_two_hours_for_30_accounts_and_one_bouncing_domain() -> None:
    tenant = build_tenant(seed=7, now=NOW, outage=True)
    down = [c for c in tenant.callouts if "ledgerlink" in c.request_url and c.failed]
    assert None not in {c.account_id for c in down}
    assert len({c.account_id for c in down}) == OUTAGE_ACCOUNTS
    assert tenant.big_account_id not in {c.account_id for c in down}
    assert all(c.failed and c.response_code == -1 for c in down)
    first, last = min(c.create_time for c in down), max(c.create_time for c in down)
    assert NOW - timedelta(hours=7) <= first and last < NOW - timedelta(hours=5)
    bounced = [e for e in tenant.emails if e.to_email.endswith("@" + BOUNCE_DOMAIN)]
    assert len({e.account_id for e in bounced}) >= 5
    assert all(e.failed and e.error_message.startswith("550 5.1.1 <") for e in bounced)
    assert all(e.to_email in e.error_message for e in bounced)


def test_outage_endpoint_recovers_after_its_last_failure_and_the_mail_domain_still_bounces() -> (
    None
):
    tenant = build_tenant(seed=7, now=NOW, outage=True)
    to_endpoint = [c for c in tenant.callouts if "ledgerlink" in c.request_url]
    last_failure = max(c.create_time for c in to_endpoint if c.failed)
    successes = [c for c in to_endpoint if not c.failed]
    assert len(successes) == RECOVERED_DELIVERIES
    assert all(200 <= int(c.response_code) < 300 for c in successes)
    assert min(c.create_time for c in successes) == NOW - timedelta(hours=5) + RECOVERED_AFTER
    assert min(c.create_time for c in successes) > last_failure
    bounced = [e for e in tenant.emails if e.to_email.endswith("@" + BOUNCE_DOMAIN)]
    assert max(e.send_time for e in bounced) == NOW - BOUNCE_LAST_AGO
    assert all(e.failed for e in bounced), "no mail to the domain gets through"
