"""The resend audit trail: stored before and after every resend, its card and announcements."""
