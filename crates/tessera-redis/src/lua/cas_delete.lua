-- Deletes a session only if its value is still the one that was read (revoke-by-user).
-- KEYS[1]  session key
-- ARGV[1]  expected version: the first 16 hex digits of SHA-1 of the value read
-- Returns 1 deleted, 0 missing, -1 changed since it was read.
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if string.sub(redis.sha1hex(cur), 1, 16) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
