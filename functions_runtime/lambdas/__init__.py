"""Thin AWS Lambda entry points: build clients once per cold start, call the services."""
