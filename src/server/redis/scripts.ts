/**
 * The Lua scripts of the Redis engine (docs/scaling.md, "Scripts"). Each runs atomically on the
 * Redis server: an op's duplicate check, its seq, its state change, its log entry, its mark and
 * its notice are one step, so two instances can never give two changes one seq or apply one op
 * twice. ioredis sends them by EVALSHA (falling back to EVAL after a Redis restart emptied its
 * script cache).
 *
 * Numbers: Lua 5.1 numbers are doubles, exact for the integers the protocol allows (up to
 * 2^53 − 1); they are written back with `%d`, never `tostring` (which would print 9.007e+15).
 * Values are never decoded in Lua: the instance sends each key and value as JSON text, so no
 * number passes through cjson (whose encoder keeps 14 digits).
 */

/**
 * The channel keys every channel script takes, in order (see keys.ts `ChannelKeys`), then the
 * set of stored channels.
 */
const CHANNEL_PRELUDE = `
local K = { meta = KEYS[1], data = KEYS[2], log = KEYS[3], marks = KEYS[4], markTimes = KEYS[5],
  markOwners = KEYS[6], notices = KEYS[7], stored = KEYS[8] }

local function fmt(x) return string.format('%d', x) end

-- Redis does not undo a script's writes when a later command fails (a key of another type put
-- there by hand, or by another program on the prefix), so a failure midway would leave half a step
-- (a document changed with no log entry, an op applied with no mark). So every command that can
-- fail runs before the first write: meta, data and marks are read by ensure() before it writes (a
-- wrong type fails there; what ensure writes, a new epoch, is a whole state of its own), the log
-- entry is the step's first write, and the keys no read reaches first are checked here (a TYPE
-- each, about 1 µs: 3 per step, 5 for a version 1 op). The error names the key.
local function checkTypes(expected)
  for key, want in pairs(expected) do
    local got = redis.call('TYPE', key)['ok']
    if got ~= 'none' and got ~= want then
      return redis.error_reply('WRONGTYPE statesocket: key ' .. key .. ' holds a ' .. got .. ', expected a ' .. want .. '; nothing was written')
    end
  end
  return nil
end

-- The channel's keys written without being read first (see checkTypes).
local function unreadTypes()
  return { [K.markTimes] = 'zset', [K.markOwners] = 'hash', [K.stored] = 'set' }
end

-- A channel's position and sizes. A channel is lost (a new epoch) when its meta hash is missing,
-- when its document or marks hash lost its epoch stamp (field "~"), or when its log is missing
-- while seq > 0: a Redis restarted without persistence, a key deleted by hand. What remains is
-- kept (the document, the marks); marks lost while the channel existed raise the horizon to now,
-- so every resend gets ERR_CLIENT_FORGOTTEN and none applies twice.
-- restart: '' when Redis fsyncs every write; else its run id, which changes with every restart or
-- failover: a Redis that came back from an RDB snapshot or an everysec AOF may have lost the last
-- changes while keeping every key, and reusing the epoch would give their seqs to other changes.
local function ensure(candidate, logSize, now, restart)
  local m = redis.call('HMGET', K.meta, 'epoch', 'seq', 'time', 'horizon', 'marked', 'stores', 'restart', 'bytes')
  local epoch = m[1]
  local dataStamp = redis.call('HGET', K.data, '~')
  local marksStamp = redis.call('HGET', K.marks, '~')
  if epoch then
    local seq = tonumber(m[2])
    local logKept = seq == 0 or logSize == 0 or redis.call('EXISTS', K.log) == 1
    local sameRun = restart == '' or m[7] == restart
    if dataStamp == epoch and marksStamp == epoch and logKept and sameRun then
      local st = { epoch = epoch, seq = seq, time = tonumber(m[3]), fresh = false, marked = m[5] == '1', stores = m[6] == '1' }
      if m[4] then st.horizon = tonumber(m[4]) end
      if m[8] then st.bytes = tonumber(m[8]) end
      return st
    end
  end
  local st = { epoch = candidate, seq = 0, time = now, fresh = true, marked = m[5] == '1', stores = false }
  if m[3] and tonumber(m[3]) > now then st.time = tonumber(m[3]) end
  if m[4] then st.horizon = tonumber(m[4]) end
  -- Marks are lost when their hash is gone but the channel had marks (its meta says so), or its
  -- meta is gone too and a document remains (a stored channel's keys never expire: a loss).
  if marksStamp == false and (m[5] == '1' or (epoch == false and redis.call('HLEN', K.data) > 1)) then
    if st.horizon == nil or st.horizon < st.time then st.horizon = st.time end
    redis.call('DEL', K.markTimes, K.markOwners)
  end
  redis.call('DEL', K.log)
  -- What is left of the document may not be what the size counted: measured again when needed.
  redis.call('HDEL', K.meta, 'bytes')
  redis.call('HSET', K.data, '~', candidate)
  redis.call('HSET', K.marks, '~', candidate)
  redis.call('HSET', K.meta, 'epoch', candidate, 'seq', 0, 'time', fmt(st.time), 'restart', restart)
  if st.horizon then redis.call('HSET', K.meta, 'horizon', fmt(st.horizon)) end
  redis.call('PUBLISH', K.notices, 'r|' .. candidate)
  return st
end

-- A mark: n|acked|floor|refusals|owner (refusals: "n=CODE,n=CODE", oldest first; owner last, it may hold "|").
local function parseMark(v)
  local n, acked, floor, refs, owner = string.match(v, '^(%d+)|(%d+)|(%d+)|([^|]*)|(.*)$')
  return { n = tonumber(n), acked = tonumber(acked), floor = tonumber(floor), refs = refs, owner = owner }
end

local function encodeMark(mk)
  return fmt(mk.n) .. '|' .. fmt(mk.acked) .. '|' .. fmt(mk.floor) .. '|' .. mk.refs .. '|' .. mk.owner
end

local function refusalOf(mk, n)
  return string.match(',' .. mk.refs .. ',', ',' .. fmt(n) .. '=([A-Z0-9_]+),')
end

local forgotten = 0

local function forget(st, key, at)
  local v = redis.call('HGET', K.marks, key)
  if v then
    local owner = parseMark(v).owner
    if redis.call('HINCRBY', K.markOwners, owner, -1) <= 0 then redis.call('HDEL', K.markOwners, owner) end
  end
  redis.call('HDEL', K.marks, key)
  redis.call('ZREM', K.markTimes, key)
  forgotten = forgotten + 1
  if st.horizon == nil or at > st.horizon then st.horizon = at end
end

-- Marks idle for retentionMs are forgotten (the oldest first, at most 1000 per step).
local function expireMarks(st, now, retentionMs)
  local old = redis.call('ZRANGEBYSCORE', K.markTimes, '-inf', now - retentionMs, 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #old, 2 do forget(st, old[i], tonumber(old[i + 1])) end
end

-- The eviction rule: the least recently active mark of the owner holding the most marks.
local function makeRoom(st)
  local counts = redis.call('HGETALL', K.markOwners)
  local most = 0
  for i = 2, #counts, 2 do if tonumber(counts[i]) > most then most = tonumber(counts[i]) end end
  local top = {}
  for i = 1, #counts, 2 do if tonumber(counts[i + 1]) == most then top[counts[i]] = true end end
  local start = 0
  while true do
    local page = redis.call('ZRANGE', K.markTimes, start, start + 99, 'WITHSCORES')
    if #page == 0 then return end
    for i = 1, #page, 2 do
      local v = redis.call('HGET', K.marks, page[i])
      if v == false or top[parseMark(v).owner] then return forget(st, page[i], tonumber(page[i + 1])) end
    end
    start = start + 100
  end
end

-- Raises key's mark to n at time at (creating it, making room first), recording code as op n's refusal.
local function raise(st, key, owner, n, at, code, maxMarks, maxRefusals)
  local v = redis.call('HGET', K.marks, key)
  local mk
  if v == false then
    while redis.call('ZCARD', K.markTimes) >= maxMarks and redis.call('ZCARD', K.markTimes) > 0 do makeRoom(st) end
    -- Below its first op a mark knows no answer (docs/protocol.md, "Refusals on a channel that stores nothing").
    mk = { n = n, acked = 0, floor = n - 1, refs = '', owner = owner }
    redis.call('HINCRBY', K.markOwners, owner, 1)
  else
    mk = parseMark(v)
    if n > mk.n then mk.n = n end
  end
  if code then
    local entry = fmt(n) .. '=' .. code
    if mk.refs == '' then mk.refs = entry else mk.refs = mk.refs .. ',' .. entry end
    local _, commas = string.gsub(mk.refs, ',', '')
    if commas + 1 > maxRefusals then
      local oldest, rest = string.match(mk.refs, '^(%d+)=[A-Z0-9_]+,?(.*)$')
      mk.refs = rest
      if tonumber(oldest) > mk.floor then mk.floor = tonumber(oldest) end
    end
  end
  redis.call('HSET', K.marks, key, encodeMark(mk))
  redis.call('ZADD', K.markTimes, at, key)
end

local function judgeDuplicate(mk, n)
  local code = refusalOf(mk, n)
  if code then return { 'duplicate', 'refusal', code } end
  if n <= mk.acked or n > mk.floor then return { 'duplicate', 'ack', '' } end
  return { 'duplicate', 'forgotten', '' }
end

-- A channel stores something once it has data, marks or a horizon ("default" always counts as stored).
local function storesSomething(st)
  return redis.call('HLEN', K.data) > 1 or redis.call('ZCARD', K.markTimes) > 0 or st.horizon ~= nil
end

-- Bookkeeping after a step: the meta hash, the stored-channels set, and expiry of an empty channel
-- (the set and the keys' TTLs change only when the channel starts or stops storing something).
local function finish(st, name, idleMs)
  redis.call('HSET', K.meta, 'seq', fmt(st.seq), 'time', fmt(st.time))
  if st.bytes then redis.call('HSET', K.meta, 'bytes', fmt(st.bytes)) end
  if st.horizon then redis.call('HSET', K.meta, 'horizon', fmt(st.horizon)) end
  if not st.marked and redis.call('ZCARD', K.markTimes) > 0 then redis.call('HSET', K.meta, 'marked', '1') end
  if storesSomething(st) then
    if not st.stores then
      if name ~= '' then redis.call('SADD', K.stored, name) end
      for _, key in ipairs({ K.meta, K.data, K.marks, K.log }) do redis.call('PERSIST', key) end
      redis.call('HSET', K.meta, 'stores', '1')
    end
  else
    -- A channel that stores nothing leaves nothing behind once idle: a flood of names cannot grow Redis.
    if st.stores then
      if name ~= '' then redis.call('SREM', K.stored, name) end
      redis.call('HSET', K.meta, 'stores', '0')
    end
    for _, key in ipairs({ K.meta, K.data, K.marks, K.log }) do redis.call('PEXPIRE', key, idleMs) end
  end
end

-- The document's size (the data limit): UTF-8 bytes of its JSON {"key":value,…}, 2 + its entries'
-- bytes + the commas between them. An entry is its field (the key as JSON) + ':' + its value (as
-- JSON): Lua's # counts bytes. Their sum is kept in the meta hash (field "bytes"), measured once
-- when missing (a channel written before it was kept, or a new epoch over what was left).
local function entrySum(st)
  if st.bytes == nil then
    local sum = 0
    local fields = redis.call('HGETALL', K.data)
    for i = 1, #fields, 2 do
      if fields[i] ~= '~' then sum = sum + #fields[i] + 1 + #fields[i + 1] end
    end
    st.bytes = sum
  end
  return st.bytes
end

local function documentBytes(sum, count)
  if count < 1 then return 2 + sum end
  return 2 + sum + count - 1
end

-- The entries' sum and the document's bytes before and after a change: deletes (ARGV[first ..
-- first + deletes - 1]), then (field, value) pairs to the end. The stamp "~" is no entry.
local function measureChange(st, first, deletes)
  local sum = entrySum(st)
  local count = redis.call('HLEN', K.data) - 1
  local before = documentBytes(sum, count)
  local touched = {}
  for i = first, first + deletes - 1 do touched[ARGV[i]] = false end
  for i = first + deletes, #ARGV, 2 do touched[ARGV[i]] = #ARGV[i] + 1 + #ARGV[i + 1] end
  for field, size in pairs(touched) do
    local old = redis.call('HSTRLEN', K.data, field)
    if old > 0 then
      sum = sum - (#field + 1 + old)
      count = count - 1
    end
    if size then
      sum = sum + size
      count = count + 1
    end
  end
  return sum, before, documentBytes(sum, count)
end

local function roomFor(name, maxStored)
  return name == '' or redis.call('SISMEMBER', K.stored, name) == 1 or redis.call('SCARD', K.stored) < maxStored
end
`;

/**
 * Presence: a sorted set of member keys scored by when they expire (Redis's clock, the same for
 * every instance), a hash of their JSON and a hash of who holds them (a subscription of some
 * instance; '' while its grace runs). An instance moves the expiry of the members it holds on
 * every `presenceTtlMs / 3`; an instance that dies stops, and its members leave once it passes.
 * Notices: `j` / `l` followed by ["key","member JSON"].
 */
const PRESENCE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function leave(key)
  local json = redis.call('HGET', P.members, key)
  redis.call('ZREM', P.zset, key)
  redis.call('HDEL', P.members, key)
  redis.call('HDEL', P.holders, key)
  if json then redis.call('PUBLISH', P.notices, 'l' .. cjson.encode({ key, json })) end
  return json
end
-- Members whose time ran out leave (their grace ended, or their instance stopped refreshing them).
local function sweep()
  local gone = redis.call('ZRANGEBYSCORE', P.zset, '-inf', now)
  for _, key in ipairs(gone) do leave(key) end
  return #gone
end
local function keepAlive(ttl)
  for _, key in ipairs({ P.zset, P.members, P.holders }) do redis.call('PEXPIRE', key, ttl + 60000) end
end
local function listed()
  local out = {}
  local all = redis.call('HGETALL', P.members)
  for i = 1, #all, 2 do out[#out + 1] = all[i] out[#out + 1] = all[i + 1] end
  return out
end
`;

/** A document hash as {field, value, …}, without its epoch stamp (field "~"). */
const DOCUMENT_OF = `
local function documentOf(key)
  local doc = {}
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    if fields[i] ~= '~' then
      doc[#doc + 1] = fields[i]
      doc[#doc + 1] = fields[i + 1]
    end
  end
  return doc
end
`;

/**
 * LOAD: a channel's position, document and members (creating its epoch if it has none).
 * KEYS: the channel keys + stored, presence, members, holders. ARGV: candidate epoch, logSize, now, idleMs, name, restart mark.
 * Returns {epoch, seq, {field, value, …}, {member key, member JSON, …}} (the document without its stamp).
 */
export const LOAD_SCRIPT = `${CHANNEL_PRELUDE}
${DOCUMENT_OF}
local P = { zset = KEYS[9], members = KEYS[10], holders = KEYS[11], notices = KEYS[7] }
${PRESENCE_LUA}
local wrongType = checkTypes(unreadTypes())
if wrongType then return wrongType end
local st = ensure(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[6])
if st.fresh then finish(st, ARGV[5], tonumber(ARGV[4])) end
if not storesSomething(st) then
  for _, key in ipairs({ K.meta, K.data, K.marks, K.log }) do redis.call('PEXPIRE', key, tonumber(ARGV[4])) end
end
sweep()
return { st.epoch, fmt(st.seq), documentOf(K.data), listed() }
`;

/**
 * APPEND: one atomic step for an op (applied or refused), a version 1 op, or a server change.
 * KEYS: the channel keys + stored, v1 ops, v1 times, the order key (a server change: see below).
 * ARGV: 1 candidate epoch, 2 logSize, 3 now (the instance's time, never going back), 4 idleMs,
 * 5 name ('' for default: never counted as stored), 6 kind (op | v1 | server), 7 key (mark key,
 * v1 op id, or a server change's run), 8 owner, 9 n (a server change: its place in the run, 0 for
 * none), 10 re ('' none), 11 retentionMs, 12 maxMarks (v1: the record's size),
 * 13 maxRefusals, 14 maxStored, 15 refusal code ('' : apply), 16 keep a refusal off an empty
 * channel (1/0), 17 change JSON, 18 number of deleted keys D, 19 restart mark (see ensure),
 * 20 maxDataBytes (0: no limit), then D keys as JSON, then (key JSON, value JSON) pairs.
 * Returns {'applied', epoch, seq, forgotten} | {'duplicate', kind, code[, forgotten]} | {'forgotten', forgotten}
 * | {'refused', code, recorded (1/0), forgotten} | {'tooLarge', bytes, forgotten} | {'full'} | {'deferred'}
 * | {'outOfOrder'};
 * `forgotten` counts marks forgotten by retention or the bound in this step. A change over the
 * data limit is refused here, against the document every instance shares (`tooLarge`: an op's
 * refusal ERR_DATA_LIMIT recorded as any refusal is), so instances appending at once cannot take
 * it over together.
 *
 * Pipelined server changes (server-lane.ts): the n-th change of a run (n > 1) applies only right
 * after the (n−1)-th of that run took its step (the order key holds `run|n` of the last one);
 * otherwise it answers `outOfOrder` and changes nothing, so a change whose predecessor failed
 * (NOSCRIPT after a SCRIPT FLUSH) can never take a seq before it.
 */
export const APPEND_SCRIPT = `${CHANNEL_PRELUDE}
local V1 = { ops = KEYS[9], times = KEYS[10] }
local logSize, now, idleMs, name, kind = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local key, owner, n, re = ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local retentionMs, maxMarks, maxRefusals, maxStored = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local code, keepOffEmpty = ARGV[15], ARGV[16] == '1'
local types = unreadTypes()
if kind == 'v1' then types[V1.ops], types[V1.times] = 'hash', 'zset' end
local wrongType = checkTypes(types)
if wrongType then return wrongType end
local st = ensure(ARGV[1], logSize, now, ARGV[19])
-- Times never go back, and a mark's time is at least its op's first writing (re): so a forgotten
-- mark's time (the horizon) is never below the re of an op it applied, whatever the instances' clocks.
if st.time > now then now = st.time end
if re and re > now then now = re end
st.time = now

-- Records the version 1 op id (newest), forgetting the oldest past the record's size.
local function recordV1(value)
  redis.call('HSET', V1.ops, key, value)
  redis.call('ZADD', V1.times, now, key)
  while redis.call('ZCARD', V1.times) > maxMarks do
    local oldest = redis.call('ZRANGE', V1.times, 0, 0)
    redis.call('ZREM', V1.times, oldest[1])
    redis.call('HDEL', V1.ops, oldest[1])
  end
end

local forgottenClient = false
if kind == 'op' then
  expireMarks(st, now, retentionMs)
  local v = redis.call('HGET', K.marks, key)
  if v then
    local mk = parseMark(v)
    if n <= mk.n then
      finish(st, name, idleMs)
      local answer = judgeDuplicate(mk, n)
      answer[4] = forgotten
      return answer
    end
  elseif re and st.horizon and re <= st.horizon then
    code, forgottenClient = 'ERR_CLIENT_FORGOTTEN', true
  end
elseif kind == 'server' and n > 0 then
  local order = KEYS[11]
  if n > 1 and redis.call('GET', order) ~= key .. '|' .. fmt(n - 1) then return { 'outOfOrder' } end
  redis.call('SET', order, key .. '|' .. fmt(n), 'PX', 60000)
elseif kind == 'v1' then
  local v = redis.call('HGET', V1.ops, key)
  if v then
    local c = string.match(v, '^R|([A-Z0-9_]+)|')
    if c then return { 'duplicate', 'refusal', c } end
    return { 'duplicate', 'ack', '' }
  end
end

-- The data limit: a change that would take the document past it, and make it larger, is refused.
local deletes, maxBytes = tonumber(ARGV[18]), tonumber(ARGV[20])
local tooLarge, newSum
if code == '' then
  local before, after
  newSum, before, after = measureChange(st, 21, deletes)
  if maxBytes > 0 and after > maxBytes and after > before then code, tooLarge = 'ERR_DATA_LIMIT', after end
end

-- A channel that stores nothing (docs/protocol.md, "Refusals on a channel that stores nothing"):
-- a refusal kept off it is not recorded, and nothing is stored past maxStoredChannels.
local empty = not storesSomething(st)
if code ~= '' then
  if kind == 'op' then
    if empty and keepOffEmpty and not forgottenClient then
      finish(st, name, idleMs)
      return { 'refused', code, 0, forgotten }
    end
    if empty and not roomFor(name, maxStored) then return { 'full' } end
    raise(st, key, owner, n, now, code, maxMarks, maxRefusals)
  elseif kind == 'v1' then
    recordV1('R|' .. code .. '|' .. owner)
  end
  finish(st, name, idleMs)
  if forgottenClient then return { 'forgotten', forgotten } end
  if tooLarge then return { 'tooLarge', fmt(tooLarge), forgotten } end
  return { 'refused', code, 1, forgotten }
end

if empty and not roomFor(name, maxStored) then return { 'full' } end
if kind == 'v1' and redis.call('ZCARD', V1.times) >= maxMarks then
  -- Version 1's op id record: the oldest ids past its size are forgotten once past retention;
  -- a record full of young ids defers the op (the session closes 1013; the client resends later).
  local oldest = redis.call('ZRANGE', V1.times, 0, 0, 'WITHSCORES')
  local age = now - tonumber(oldest[2])
  if age >= 0 and age < retentionMs then return { 'deferred' } end
end

-- Apply: the log entry first, as it is the one write that can still fail (its id must be above the
-- stream's last, which a log written by hand may not allow); then the document, deletes first.
st.seq = st.seq + 1
if logSize > 0 then
  redis.call('XADD', K.log, 'MAXLEN', '~', logSize, fmt(st.seq) .. '-0', 'c', ARGV[17])
end
for i = 21, 20 + deletes do redis.call('HDEL', K.data, ARGV[i]) end
for i = 21 + deletes, #ARGV, 2 do redis.call('HSET', K.data, ARGV[i], ARGV[i + 1]) end
st.bytes = newSum
if kind == 'op' then
  raise(st, key, owner, n, now, nil, maxMarks, maxRefusals)
elseif kind == 'v1' then
  recordV1('A|' .. owner)
end
finish(st, name, idleMs)
redis.call('PUBLISH', K.notices, 'e|' .. st.epoch .. '|' .. fmt(st.seq) .. '|' .. ARGV[17])
return { 'applied', st.epoch, fmt(st.seq), forgotten }
`;

/**
 * PEEK: a channel's position, document and members as stored, writing nothing (no epoch is created,
 * no expiry moved, no member swept). KEYS: meta, data, members. Returns false (no epoch), or
 * {epoch, seq, {field, value, …}, {member key, member JSON, …}}.
 */
export const PEEK_SCRIPT = `${DOCUMENT_OF}
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if not m[1] then return false end
return { m[1], m[2] or '0', documentOf(KEYS[2]), redis.call('HGETALL', KEYS[3]) }
`;

/**
 * ACKED: subscribe.acked: the client has every answer up to acked; refusals at or below it are forgotten.
 * KEYS: the channel keys + stored. ARGV: mark key, acked. Returns the mark's n (0: no mark).
 */
export const ACKED_SCRIPT = `${CHANNEL_PRELUDE}
local v = redis.call('HGET', K.marks, ARGV[1])
if v == false then return 0 end
local mk = parseMark(v)
local acked = tonumber(ARGV[2])
if acked > mk.acked then
  mk.acked = acked
  local kept = {}
  for entry in string.gmatch(mk.refs, '[^,]+') do
    if tonumber(string.match(entry, '^(%d+)=')) > acked then kept[#kept + 1] = entry end
  end
  mk.refs = table.concat(kept, ',')
  redis.call('HSET', K.marks, ARGV[1], encodeMark(mk))
end
return fmt(mk.n)
`;

/**
 * READ_LOG: the entries after since, when the epoch is the channel's and the log covers since.
 * KEYS: meta, log. ARGV: epoch, since, logSize. Returns false (not covered), or {seq, change, …}.
 * The log is the last logSize entries: the stream, trimmed with MAXLEN ~, may hold a few more
 * (whole nodes go at once), but what it answers does not depend on when Redis trimmed.
 */
export const READ_LOG_SCRIPT = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if m[1] ~= ARGV[1] then return false end
local seq, since, logSize = tonumber(m[2]), tonumber(ARGV[2]), tonumber(ARGV[3])
if since > seq or since < seq - logSize then return false end
if since == seq then return {} end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d', since + 1) .. '-0', '+', 'COUNT', logSize)
if #entries == 0 or entries[1][1] ~= string.format('%d', since + 1) .. '-0' then return false end
local out = {}
for _, e in ipairs(entries) do
  out[#out + 1] = string.match(e[1], '^(%d+)')
  out[#out + 1] = e[2][2]
end
return out
`;

/**
 * CLAIM: a hello of user with client: the id is the user's (refused when another user's).
 * KEYS: owners, owner times, owner counts. ARGV: client, user, retentionMs, maxClientIds, check only (1/0).
 * Returns {'ok', new (1/0)} | {'taken', user}. Times: Redis's clock (one for every instance).
 */
export const CLAIM_SCRIPT = `
local owners, times, counts = KEYS[1], KEYS[2], KEYS[3]
local client, user, retentionMs, maxIds = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function userOf(c)
  local v = redis.call('HGET', owners, c)
  if v == false then return nil end
  return string.match(v, '^%d+|(.*)$')
end
local function remove(c)
  local u = userOf(c)
  if u and redis.call('HINCRBY', counts, u, -1) <= 0 then redis.call('HDEL', counts, u) end
  redis.call('HDEL', owners, c)
  redis.call('ZREM', times, c)
end
for _, c in ipairs(redis.call('ZRANGEBYSCORE', times, '-inf', now - retentionMs, 'LIMIT', 0, 1000)) do remove(c) end
local current = userOf(client)
if current and current ~= user then return { 'taken', current } end
if ARGV[5] == '1' then return { 'ok', current and 0 or 1 } end
if current == nil then
  while redis.call('ZCARD', times) >= maxIds and redis.call('ZCARD', times) > 0 do
    -- The least recently greeted id of the user holding the most ids.
    local all = redis.call('HGETALL', counts)
    local most, top = 0, {}
    for i = 2, #all, 2 do if tonumber(all[i]) > most then most = tonumber(all[i]) end end
    for i = 1, #all, 2 do if tonumber(all[i + 1]) == most then top[all[i]] = true end end
    local start, done = 0, false
    while not done do
      local page = redis.call('ZRANGE', times, start, start + 99)
      if #page == 0 then break end
      for _, c in ipairs(page) do
        local u = userOf(c)
        if u == nil or top[u] then remove(c) done = true break end
      end
      start = start + 100
    end
    if not done then break end
  end
  redis.call('HINCRBY', counts, user, 1)
end
redis.call('HSET', owners, client, string.format('%d', now) .. '|' .. user)
redis.call('ZADD', times, now, client)
return { 'ok', current and 0 or 1 }
`;

/** KEYS: presence, members, holders, notices (REFRESH: then meta, data, marks, log). */
const PRESENCE_PRELUDE = `
local P = { zset = KEYS[1], members = KEYS[2], holders = KEYS[3], notices = KEYS[4] }
${PRESENCE_LUA}`;

/**
 * JOIN: ARGV key, member JSON without its closing brace (`{"client":…,"user":…[,"info":…]`), holder,
 * joinedAt, ttlMs. A member still listed (its grace running, or held elsewhere) continues, untold.
 */
export const JOIN_SCRIPT = `${PRESENCE_PRELUDE}
sweep()
local key, holder, ttl = ARGV[1], ARGV[3], tonumber(ARGV[5])
redis.call('ZADD', P.zset, now + ttl, key)
redis.call('HSET', P.holders, key, holder)
keepAlive(ttl)
if redis.call('HEXISTS', P.members, key) == 1 then return 0 end
local json = ARGV[2] .. ',"joinedAt":' .. ARGV[4] .. '}'
redis.call('HSET', P.members, key, json)
redis.call('PUBLISH', P.notices, 'j' .. cjson.encode({ key, json }))
return 1
`;

/** LEAVE: ARGV key, holder. Leaves at once (on purpose) when holder holds it. */
export const LEAVE_SCRIPT = `${PRESENCE_PRELUDE}
if redis.call('HGET', P.holders, ARGV[1]) ~= ARGV[2] then return 0 end
if leave(ARGV[1]) then return 1 end
return 0
`;

/** DETACH: ARGV key, holder, graceMs. holder's connection ended: its member leaves after graceMs unless joined again. */
export const DETACH_SCRIPT = `${PRESENCE_PRELUDE}
if redis.call('HGET', P.holders, ARGV[1]) ~= ARGV[2] then return 0 end
local grace = tonumber(ARGV[3])
if grace <= 0 then
  leave(ARGV[1])
  return 1
end
redis.call('HSET', P.holders, ARGV[1], '')
redis.call('ZADD', P.zset, 'XX', now + grace, ARGV[1])
return 1
`;

/**
 * REFRESH: KEYS the presence keys, then the channel's meta, data, marks and log. ARGV ttlMs,
 * idleMs, then (key, holder) pairs: a member still held by that holder lives ttlMs more; members
 * whose time ran out leave. A followed channel that stores nothing keeps its keys idleMs more
 * (0: untouched), so it does not expire, and start a new epoch, under its subscribers.
 */
export const REFRESH_SCRIPT = `${PRESENCE_PRELUDE}
local ttl, idleMs = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  if redis.call('HGET', P.holders, ARGV[i]) == ARGV[i + 1] then redis.call('ZADD', P.zset, 'XX', now + ttl, ARGV[i]) end
end
if #ARGV > 2 then keepAlive(ttl) end
if idleMs > 0 and redis.call('HGET', KEYS[5], 'stores') ~= '1' then
  for i = 5, 8 do redis.call('PEXPIRE', KEYS[i], idleMs) end
end
return sweep()
`;

/** RENEW: KEYS lease. ARGV holder, ttlMs. Takes a free lease or renews one's own; 1 when held after. */
export const LEASE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** RELEASE: KEYS lease. ARGV holder. Deletes the lease only when it is the holder's. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
