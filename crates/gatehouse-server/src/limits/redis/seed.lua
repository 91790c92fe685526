-- Seeds calendar counters rebuilt from the store, each only if still missing: replicas that rebuilt the
-- same counter at once agree on the first seed, and nothing charged since is overwritten.
-- KEYS: the counters. ARGV: 3 values per key: slot, amount, when the slot stops counting (Unix seconds).
local seeded = 0
for i, key in ipairs(KEYS) do
  local b = (i - 1) * 3 + 1
  if redis.call('HSETNX', key, ARGV[b], ARGV[b + 1]) == 1 then
    keep_until(key, tonumber(ARGV[b + 2]) * 1000)
    seeded = seeded + 1
  end
end
return seeded
