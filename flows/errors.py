"""Errors of the orchestration that callers catch without importing Prefect."""


class TemporaryServerDidNotStart(RuntimeError):
    """Prefect's temporary (embedded) server did not answer within its start-up time, twice."""
