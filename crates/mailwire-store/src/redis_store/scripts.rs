//! The Lua scripts behind the operations that must be atomic. Redis runs a script
//! without interleaving another command, so two appends of one id racing on two
//! machines add one stream entry.

use std::sync::LazyLock;

use redis::Script;

/// Append and claim. KEYS: id key, stream. ARGV: the event's raw bytes, group,
/// consumer, lease (ms).
///
/// Returns 1 when the id was new (appended, and pending with this consumer), 2 when
/// it was logged, unacked and its holder idle past the lease or nobody's (now this
/// consumer's), 3 when it is pending with this consumer already (its idle time
/// restarted), 0 when it was acked or another consumer holds it within its lease.
pub(crate) static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local entry = redis.call('GET', KEYS[1])
if not entry then
  -- The group (and stream) may be gone, deleted from outside or lost with a restart.
  redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
  entry = redis.call('XADD', KEYS[2], '*', 'event', ARGV[1])
  redis.call('SET', KEYS[1], entry)
  redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, entry, 'FORCE', 'JUSTID')
  return 1
end
local pending = redis.call('XPENDING', KEYS[2], ARGV[2], entry, entry, 1)
if #pending == 0 then
  if #redis.call('XRANGE', KEYS[2], entry, entry) == 0 then return 0 end
  redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, entry, 'FORCE', 'JUSTID')
  return 2
end
if pending[1][2] == ARGV[3] then
  redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, entry, 'JUSTID')
  return 3
end
if pending[1][3] >= tonumber(ARGV[4]) then
  redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], ARGV[4], entry, 'JUSTID')
  return 2
end
return 0
",
    )
});

/// Ack an event: leave the group's pending list and drop the bytes; the id key stays,
/// so the id is still a duplicate, until the retention (if any) runs out; acking again
/// does not restart it, and it does not start while the id is a dead letter. KEYS:
/// id key, stream, dead letters hash. ARGV: group, retention (ms, 0 for forever), id.
pub(crate) static ACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local entry = redis.call('GET', KEYS[1])
if not entry then return 0 end
local expire = ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) == -1
  and redis.call('HEXISTS', KEYS[3], ARGV[3]) == 0
redis.call('XACK', KEYS[2], ARGV[1], entry)
redis.call('XDEL', KEYS[2], entry)
if expire then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
",
    )
});

/// Bury an event: ack it (out of the group's pending list and the stream) and keep
/// its dead letter, replacing one kept already. The id key stays, with no expiry
/// while the letter is kept, so a copy is a duplicate; an id never appended gets one
/// naming no entry (`0-1`: `XADD *` never makes it). KEYS: id key, stream, dead
/// letters sorted set, dead letters hash. ARGV: group, id, buried at (Unix ms), the
/// letter's bytes.
///
/// Redis does not undo what a script wrote before an error, so the scripts that
/// write dead letters read every key first: one holding another type fails the
/// script before it writes anything.
pub(crate) static BURY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local entry = redis.call('GET', KEYS[1])
redis.call('ZSCORE', KEYS[3], ARGV[2])
redis.call('HEXISTS', KEYS[4], ARGV[2])
if entry then
  redis.call('XACK', KEYS[2], ARGV[1], entry)
  redis.call('XDEL', KEYS[2], entry)
  redis.call('PERSIST', KEYS[1])
else
  redis.call('SET', KEYS[1], '0-1')
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[4])
return 1
",
    )
});

/// Up to a number of dead letters, oldest first. KEYS: dead letters sorted set, dead
/// letters hash. ARGV: the index of the last (how many less one; passed to Redis as
/// is, Lua numbers are doubles). Returns `[id, letter, id, letter, ...]`, a letter
/// nil when the hash lacks it.
pub(crate) static DEAD_LETTERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, ARGV[1])) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
end
return out
",
    )
});

/// Revive a dead letter, if it is still the one read: its event goes back into the
/// stream as a new entry, pending with this consumer but idle since the epoch
/// (`TIME 0`), so the next claim (`XAUTOCLAIM` past the lease) or append of it by any
/// instance takes it; the id key names the new entry, with no expiry (its acked mark
/// forgotten); the letter is removed. An id whose entry is in the stream already is
/// left there. KEYS: id key, stream, dead letters sorted set, dead letters hash. ARGV:
/// group, consumer, id, the letter's bytes as read, the event's raw bytes.
///
/// Returns 1 when revived, 0 when there is no such letter, 2 when the letter changed
/// since it was read (buried again: read it again).
pub(crate) static REVIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local letter = redis.call('HGET', KEYS[4], ARGV[3])
if not letter then return 0 end
if letter ~= ARGV[4] then return 2 end
redis.call('ZSCORE', KEYS[3], ARGV[3])
local entry = redis.call('GET', KEYS[1])
if not (entry and #redis.call('XRANGE', KEYS[2], entry, entry) > 0) then
  redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[1], '0', 'MKSTREAM')
  entry = redis.call('XADD', KEYS[2], '*', 'event', ARGV[5])
  redis.call('SET', KEYS[1], entry)
  redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, entry, 'TIME', 0, 'FORCE', 'JUSTID')
end
redis.call('HDEL', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
",
    )
});

/// Discard a dead letter: the letter is removed, the id key stays (acked), and the
/// retention (if any) starts. KEYS: id key, dead letters sorted set, dead letters
/// hash. ARGV: id, retention (ms, 0 for forever). Returns 1 when discarded, 0 when
/// there is no such letter.
pub(crate) static DISCARD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZSCORE', KEYS[2], ARGV[1])
local pttl = redis.call('PTTL', KEYS[1])
if redis.call('HDEL', KEYS[3], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
if pttl == -2 then
  redis.call('SET', KEYS[1], '0-1')
end
if ARGV[2] ~= '0' and pttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
",
    )
});

/// Seen-set insert measured on the store's injected clock instead of the server's:
/// the key holds its expiry in Unix milliseconds, and a Redis expiry (PX) still
/// reclaims it. KEYS: seen key. ARGV: now (ms), expiry (ms), time to live (ms, 0 for
/// none). Returns 1 when inserted, 0 for a duplicate.
pub(crate) static INSERT_AT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = tonumber(redis.call('GET', KEYS[1]) or '')
if held and held > tonumber(ARGV[1]) then return 0 end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
",
    )
});

/// Renew the claims this consumer holds. KEYS: stream, then the id key of each event
/// held. ARGV: group, consumer.
///
/// For each id, in one round trip and without interleaving, answers 1 (still ours)
/// or 0 (lost):
/// - pending with this consumer: its idle time is reset (`XCLAIM ... 0 JUSTID`,
///   which counts no delivery); 1.
/// - pending with another consumer (taken over), or no longer in the stream while
///   its id is known (acked by whoever took it over): 0.
/// - in the stream but pending with nobody (the group was made again): claimed
///   back (`FORCE`); 1.
/// - its id unknown (Redis restarted without its data): 1. Nobody else can deliver
///   it, so the instance holding it in memory keeps it: dropping it would lose it.
///
/// The group is made again first if it is gone, so rounds work after such a
/// restart.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local answers = {}
for i = 2, #KEYS do
  local entry = redis.call('GET', KEYS[i])
  local ours = 1
  if entry then
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], entry, entry, 1)
    if #pending > 0 then
      if pending[1][2] == ARGV[2] then
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry, 'JUSTID')
      else
        ours = 0
      end
    elseif #redis.call('XRANGE', KEYS[1], entry, entry) == 0 then
      ours = 0
    else
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry, 'FORCE', 'JUSTID')
    end
  end
  answers[i - 1] = ours
end
return answers
",
    )
});

/// Keep a consumer-name slot: extend the lock when it is still ours, take it again
/// when it expired (Redis was unreachable for longer than its time to live, or
/// restarted empty). KEYS: slot key. ARGV: token, time to live (ms). Returns 1 when
/// the slot is ours, 0 when another instance holds it.
pub(crate) static KEEP_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
",
    )
});

/// Release a consumer-name slot, unless another instance holds it by now. KEYS: slot
/// key. ARGV: token.
pub(crate) static RELEASE_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Remove the group's stale consumers: those with no pending entry and idle for
/// longer than the bound, other than this one. Checked and removed in one script,
/// so a consumer that gets an entry meanwhile is never removed (that would drop the
/// entry from the pending list). KEYS: stream. ARGV: group, bound (ms), this
/// consumer. Returns how many were removed.
pub(crate) static REMOVE_STALE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local field = {}
  for i = 1, #consumer, 2 do field[consumer[i]] = consumer[i + 1] end
  if field['name'] ~= ARGV[3] and field['pending'] == 0
      and tonumber(field['idle']) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], field['name'])
    removed = removed + 1
  end
end
return removed
",
    )
});
