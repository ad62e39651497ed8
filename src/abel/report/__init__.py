"""Figures and tables from analysis outputs (files in, PNG/SVG/Markdown out)."""
