"""Performance-assessment and intelligent-supervision reports (see the reports issue)."""
