"""The headless monitor: sources, schedules, frames, and the flight recorder."""
