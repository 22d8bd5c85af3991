"""Scoring: parse model text into answers, score them, aggregate metrics and write reports.

Knows nothing of torch models.
"""
