"""Charts as PNG: what to draw (spec), drawing it (draw, in a worker process), and the
client that asks the worker with bounded time and memory (renderer)."""
