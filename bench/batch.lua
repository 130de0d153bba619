-- wrk script: POST /api/dm-jobqueue/register/batch with 100 jobs of a one-hour delay (register.lua's job, 100 times).
local job = '{"message":"benchmark","delay_seconds":3600,"max_retry":3}'
local jobs = {}
for i = 1, 100 do jobs[i] = job end
wrk.method = "POST"
wrk.body = '{"jobs":[' .. table.concat(jobs, ",") .. ']}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
