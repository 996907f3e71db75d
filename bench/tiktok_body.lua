-- wrk script: POST the same Events API body (read from BODY_FILE) with an access token, to the emulator.
local file = io.open(os.getenv("BODY_FILE"), "rb")
local body = file:read("*a")
file:close()

request = function()
  return wrk.format("POST", "/open_api/v1.3/event/track/",
    {["Content-Type"] = "application/json", ["Access-Token"] = "bench-token"}, body)
end
