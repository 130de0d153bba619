-- wrk script: POST /api/dm-jobqueue/register with a long delay, so nothing runs during the measurement.
wrk.method = "POST"
wrk.body = '{"message":"benchmark","delay_seconds":3600,"max_retry":3}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
