"""Resending notifications once: durable resend jobs, the once-per-notification claim, their cards."""
