"""Runtime helpers with no domain knowledge: retry, fan-out, prefetch, throttle, clock, logs, API budget."""
