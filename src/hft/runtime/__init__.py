"""Process runtime for the hot path: CPU pinning and real-time priority, GC control, socket options,
kernel socket timestamps, huge-page arrays and the shared-memory SPSC ring. See docs/runtime.md."""
