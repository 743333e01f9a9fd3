-- wrk script: Accept from the environment; one JSON summary line at the end.
-- (GET only: wrk's parser waits for a HEAD response's body; see bench/headload.py.)
wrk.headers["Accept"] = os.getenv("BENCH_ACCEPT") or "*/*"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "bytes": %d, "duration_us": %d, "errors": %d, ' ..
    '"non_2xx": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.bytes, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
