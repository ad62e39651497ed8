"""Statistics and analyses over scored generations (files in, tables and figures out)."""
