"""The outside world: referral delivery, notifications, documents."""
