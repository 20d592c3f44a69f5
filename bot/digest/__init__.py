"""Daily digests: subscriptions, schedules, the digest card and posting it once a day."""
