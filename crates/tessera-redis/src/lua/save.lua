-- Conditional save. Writes only if the stored value is still the one that was loaded and
-- never recreates a missing key. Called with EVALSHA (loaded once per server).
-- KEYS[1]  session key
-- ARGV[1]  expected version: the first 16 hex digits of SHA-1 of the loaded value
-- ARGV[2]  new value
-- ARGV[3]  TTL in milliseconds (PX)
-- ARGV[4]  '1': the new value is bound to a user whose index entry was not written yet
-- ARGV[5]  that user's owner token for a plaintext value ('u:' .. user)
-- ARGV[6]  that user's owner token for an encrypted value ('t:' .. tag), or ARGV[5]
-- ARGV[7]  '1': read the key after writing it, so a caller with client tracking on (the
--          near cache) keeps tracking it (Redis stops tracking a key its tracker writes)
-- Returns 1 saved, 0 missing, -1 conflict, 2 owner changed: add the index entry first.
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if string.sub(redis.sha1hex(cur), 1, 16) ~= ARGV[1] then return -1 end
if ARGV[4] == '1' then
  local owner = ''
  local tag = string.match(cur, '^tsr1:[^:]*:([^:]*):')
  if tag then
    if tag ~= '' then owner = 't:' .. tag end
  else
    local ok, obj = pcall(cjson.decode, cur)
    if ok and type(obj) == 'table' then
      local meta = obj['__tessera']
      if type(meta) == 'table' and type(meta['user']) == 'string' then
        owner = 'u:' .. meta['user']
      end
    end
  end
  if owner ~= ARGV[5] and owner ~= ARGV[6] then return 2 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if ARGV[7] == '1' then redis.call('STRLEN', KEYS[1]) end
return 1
