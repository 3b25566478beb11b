-- Removes stale members from a user's index (a sorted set: member = stored session id,
-- score = milliseconds when it was last added) unless they were re-added meanwhile.
-- KEYS[1]  user index key
-- ARGV     member, score-as-read, member, score-as-read, ...
-- Returns the number of members removed.
local n = 0
for i = 1, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
