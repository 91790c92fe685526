-- Shared by the limit scripts. A counter is a hash: its fields are slots (bucket numbers of a sliding
-- window, or the start of a calendar period in Unix seconds), its values the amounts counted in them.

-- The slots of `key` from `oldest` on as {slot, amount} pairs, and their sum; older slots are deleted.
local function live_slots(key, oldest)
  local flat = redis.call('HGETALL', key)
  local live, old, sum = {}, {}, 0
  for j = 1, #flat, 2 do
    local s = tonumber(flat[j])
    if s < oldest then
      old[#old + 1] = flat[j]
    else
      local n = tonumber(flat[j + 1])
      live[#live + 1] = {s, n}
      sum = sum + n
    end
  end
  if #old > 0 then
    redis.call('HDEL', key, unpack(old))
  end
  return live, sum
end

-- Makes `key` live at least until `at` (Unix milliseconds): never shortens it (replicas' clocks differ a
-- little), and never sets a time Redis's clock has passed, which would delete the key at once.
local function keep_until(key, at)
  local t = redis.call('TIME')
  local server = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if at <= server then
    at = server + 1000
  end
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and server + ttl < at) then
    redis.call('PEXPIREAT', key, string.format('%.0f', at))
  end
end
