"""The ybjg runtime: process registry, instances, tasks, timers, calendar, audit. No Flask here."""
