-- One admission: if every deciding ask fits, every ask is charged; otherwise nothing is.
-- KEYS: the request's distinct counters.
-- ARGV[1]: now (Unix seconds). ARGV[2]: '1' to report missing calendar counters instead of admitting.
-- Then 8 values per ask: key index, slot, oldest slot counted, when the slot stops counting (Unix
-- seconds), limit, amount, '1' if the ask decides, seconds per bucket (0 for a calendar period).
-- Returns {1, {used after each ask}}, {0, refusing ask (from 0), used, retry after (-1: never)},
-- or {2, {asks (from 0) whose calendar counter is missing}}.
local now = tonumber(ARGV[1])
local asks = {}
for b = 3, #ARGV, 8 do
  asks[#asks + 1] = {
    k = tonumber(ARGV[b]),
    slot = ARGV[b + 1],
    oldest = tonumber(ARGV[b + 2]),
    expires = tonumber(ARGV[b + 3]),
    limit = tonumber(ARGV[b + 4]),
    amount = ARGV[b + 5],
    decides = ARGV[b + 6] == '1',
    bucket = tonumber(ARGV[b + 7]),
  }
end

if ARGV[2] == '1' then
  local missing = {}
  for i, a in ipairs(asks) do
    if a.bucket == 0 and redis.call('HEXISTS', KEYS[a.k], a.slot) == 0 then
      missing[#missing + 1] = i - 1
    end
  end
  if #missing > 0 then
    return {2, missing}
  end
end

-- Each counter once (asks on one counter share its period): its live slots, what they hold, and what
-- all of the request's asks on it add together.
local live, used, adds, expiry = {}, {}, {}, {}
for _, a in ipairs(asks) do
  if live[a.k] == nil then
    live[a.k], used[a.k] = live_slots(KEYS[a.k], a.oldest)
    adds[a.k] = 0
    expiry[a.k] = a.expires
  end
  adds[a.k] = adds[a.k] + tonumber(a.amount)
end

-- When what `slot` holds stops counting: windows are linear in the slot; a calendar counter holds its
-- current period only.
local function expires_of(a, slot)
  if a.bucket > 0 then
    return a.expires + (slot - tonumber(a.slot)) * a.bucket
  end
  return a.expires
end

for i, a in ipairs(asks) do
  if a.decides then
    local after = used[a.k] + adds[a.k]
    if after > a.limit then
      local retry = -1
      if adds[a.k] <= a.limit then
        -- The oldest slots leave first: the one whose leaving frees enough says when the amount fits.
        local slots = live[a.k]
        table.sort(slots, function(x, y) return x[1] < y[1] end)
        local need = after - a.limit
        retry = a.expires - now
        for _, sn in ipairs(slots) do
          if sn[2] >= need then
            retry = expires_of(a, sn[1]) - now
            break
          end
          need = need - sn[2]
        end
        if retry < 1 then
          retry = 1
        end
      end
      return {0, i - 1, used[a.k], retry}
    end
  end
end

local out = {}
for i, a in ipairs(asks) do
  redis.call('HINCRBY', KEYS[a.k], a.slot, a.amount)
  used[a.k] = used[a.k] + tonumber(a.amount)
  out[i] = used[a.k]
end
for k, at in pairs(expiry) do
  keep_until(KEYS[k], at * 1000)
end
return {1, out}
