"""Parental Oversight as a measurable pipeline: every curation decision explicit, counted, switchable."""
