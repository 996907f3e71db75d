-- wrk script: POST events with unique event ids (so none is a duplicate), EVENTS per request.
-- With TRIAL_EVERY=N, every Nth event is a START_TRIAL instead of a PURCHASE (a rule that some events match).
local counter = 0
local sent = 0
local trial_every = tonumber(os.getenv("TRIAL_EVERY") or "0")
local thread_id = 0
local events = tonumber(os.getenv("EVENTS") or "1")
local now = os.time()

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

local function one(id)
  sent = sent + 1
  local name = (trial_every > 0 and sent % trial_every == 0) and "START_TRIAL" or "PURCHASE"
  return string.format(
    '{"event_id":"%s","event":"%s","timestamp":%d,"app":{"id":"com.example.app","platform":"ios"},' ..
    '"user":{"email":"user%s@example.com","phone":"+14155550123","external_id":"u-%s"},' ..
    '"device":{"idfa":"6D92078A-8246-4BA4-AE5B-76104861E7DC","ip":"203.0.113.7","user_agent":"Example/5.4.1"},' ..
    '"properties":{"value":9.99,"currency":"USD","contents":[{"content_id":"sku-1","quantity":1,"price":9.99}]}}',
    id, name, now, id, id)
end

request = function()
  counter = counter + 1
  local body
  if events == 1 then
    body = one(thread_id .. "-" .. counter)
  else
    local parts = {}
    for i = 1, events do parts[i] = one(thread_id .. "-" .. counter .. "-" .. i) end
    body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer bench-key"}, body)
end
