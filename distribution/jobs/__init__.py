"""Publish jobs: their life in the database (lifecycle), the Celery tasks, and dispatch for the entry points."""
