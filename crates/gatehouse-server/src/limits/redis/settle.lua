-- Corrections of earlier charges by the real amount minus the reserved one.
-- KEYS: the distinct counters. ARGV[1]: '1' to leave a missing calendar counter missing, for the next
-- admission to rebuild from the store (creating it here would hide the loss).
-- Then 6 values per correction: key index, slot, oldest slot counted now, when the slot stops counting
-- (Unix seconds), delta, '1' for a calendar counter.
-- Returns what counts in each counter after its correction.
local out = {}
for b = 2, #ARGV, 6 do
  local key = KEYS[tonumber(ARGV[b])]
  local slot, oldest, delta = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 4])
  -- A slot that no longer counts is not revived: what it held has left the window anyway.
  if tonumber(slot) >= oldest then
    local cur = redis.call('HGET', key, slot)
    if cur then
      local n = tonumber(cur) + delta
      if n < 0 then
        n = 0
      end
      redis.call('HSET', key, slot, string.format('%.0f', n))
    elseif delta > 0 and not (ARGV[1] == '1' and ARGV[b + 5] == '1') then
      redis.call('HSET', key, slot, ARGV[b + 4])
      keep_until(key, tonumber(ARGV[b + 3]) * 1000)
    end
  end
  local _, sum = live_slots(key, oldest)
  out[#out + 1] = sum
end
return out
