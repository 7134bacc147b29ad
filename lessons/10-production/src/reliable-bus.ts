import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';

/**
 * Lesson 04's invalidation bus, made safe to run for months. Redis pub/sub delivers a
 * message to the subscribers connected at that instant, at most once. A subscriber whose
 * connection drops for a second (a Redis failover, a network blip, Redis closing a slow
 * subscriber at `client-output-buffer-limit pubsub`) misses every invalidation of that
 * second, silently: ioredis reconnects and resubscribes by itself, and the instance goes on
 * serving the L1 copies it was told to drop. That is the classic "stale L1 after reconnect"
 * report (redisson #4653, and every near-cache over pub/sub).
 *
 * The fix here is an **epoch**: one counter in Redis, bumped by every invalidation.
 *
 *   publish(keys):  EVAL  n = INCR <epoch>; PUBLISH <channel> "n <message>"   (one script: atomic,
 *                   so messages carry consecutive numbers in the order Redis ran them)
 *   on a message:   n = last + 1 → apply it. Anything else → a message was lost: flush L1.
 *   on resubscribe: GET <epoch>; equal to the last number seen → nothing was missed, keep L1.
 *                   different → flush L1 ("reconnect"). Redis restarted empty → different too.
 *
 * Compared with lesson 04's "flush on every resubscribe" (`recovery: 'flush'`), a blip with
 * no writes in it costs nothing: a fleet of instances reconnecting after a failover does not
 * throw away every L1 at once and stampede Redis and PostgreSQL. `recovery: 'none'` is the
 * naive bus, kept only to show the bug.
 *
 * What it does not do: deliver the lost messages (a Redis Stream with consumer groups would;
 * for an L1, "drop everything I hold" is as correct and much simpler). While the subscriber
 * is disconnected, L1 copies may be stale for up to the L1 TTL, as before; the epoch makes
 * sure it ends at the reconnection.
 *
 * Redis Cluster: `sharded: true` uses SPUBLISH/SSUBSCRIBE (Redis 7): a message goes to the
 * shard that owns the channel's slot instead of being broadcast to every node. The channel
 * and the epoch key share one hash tag (`{…}`), so they live in the same slot and the
 * script that touches both is allowed (a cluster refuses a script whose keys span slots).
 */
export type BusRecovery = 'epoch' | 'flush' | 'none';
export type FlushReason = 'reconnect' | 'gap';

export interface ReliableBusOptions {
  /** Runs the publish script and reads the epoch. Any client, Redis or Cluster; never closed by the bus. */
  publisher: Redis | Cluster;
  /** Its own connection: a subscribed connection can do nothing else. Never closed by the bus. */
  subscriber: Redis | Cluster;
  /** Base name, e.g. 'cachelab:10:bus'. The channel is `{name}:invalidation`, the epoch `{name}:epoch`. */
  name: string;
  /** SPUBLISH/SSUBSCRIBE (Redis ≥ 7) instead of PUBLISH/SUBSCRIBE. Default false. */
  sharded?: boolean;
  /** This instance's id, sent with every message. Default: host, pid, random suffix. */
  instanceId?: string;
  /** Default 'epoch'. */
  recovery?: BusRecovery;
  /** Another instance invalidated these keys: drop them from L1. Must not throw. */
  onInvalidate(keys: string[]): void;
  /** Messages were lost: drop all of L1. Must not throw. */
  onFlush(reason: FlushReason): void;
  /** Connected (true) or lost (false): the metrics and logs show it. Must not throw. */
  onConnectionChange?(connected: boolean): void;
  /** Failures of publish/subscribe/epoch reads, and malformed messages. Default: ignore. */
  onError?(error: Error, operation: 'publish' | 'subscribe' | 'epoch' | 'message'): void;
}

export interface ReliableBus {
  readonly instanceId: string;
  readonly channel: string;
  readonly epochKey: string;
  /** True while the subscription is confirmed and its connection has not dropped since. */
  readonly connected: boolean;
  /** Subscriptions confirmed after the first one (each is a recovery check). */
  readonly reconnects: number;
  /** Resolves once the first subscription is confirmed. Never rejects; stays pending while Redis is unreachable. */
  readonly ready: Promise<void>;
  /** Invalidate `keys` on every other instance. Resolves false when Redis did not take it. Never throws. */
  publish(keys: readonly string[]): Promise<boolean>;
  /** Unsubscribe and remove the listeners. Does not disconnect the clients. */
  close(): Promise<void>;
}

/** KEYS[1] epoch; ARGV[1] PUBLISH | SPUBLISH, ARGV[2] channel, ARGV[3] message. Returns the new epoch. */
const PUBLISH_WITH_EPOCH = `
local n = redis.call('INCR', KEYS[1])
redis.call(ARGV[1], ARGV[2], n .. ' ' .. ARGV[3])
return n`;

interface Message {
  from: string;
  keys: string[];
}

export function createReliableBus(options: ReliableBusOptions): ReliableBus {
  const { publisher, subscriber, onInvalidate, onFlush } = options;
  if (publisher === subscriber) {
    throw new TypeError(
      'createReliableBus: `publisher` and `subscriber` must be two different connections (a subscribed connection cannot run commands). Create a second client for `subscriber`.',
    );
  }
  if (typeof options.name !== 'string' || options.name === '' || /[{}]/.test(options.name)) {
    throw new TypeError(
      'createReliableBus: `name` must be a non-empty string without braces, including your key prefix, e.g. "myapp:bus".',
    );
  }
  const sharded = options.sharded ?? false;
  const recovery = options.recovery ?? 'epoch';
  const instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const channel = `{${options.name}}:invalidation`;
  const epochKey = `{${options.name}}:epoch`;
  const onError = options.onError ?? (() => {});
  const messageEvent = sharded ? 'smessage' : 'message';

  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  let connected = false;
  let everConnected = false;
  let reconnects = 0;
  let closed = false;
  /** The epoch of the last message seen (or read at subscription). undefined: not known yet. */
  let lastEpoch: number | undefined;

  const setConnected = (value: boolean) => {
    if (connected === value) return;
    connected = value;
    options.onConnectionChange?.(value);
  };
  const flush = (reason: FlushReason) => {
    if (recovery !== 'none') onFlush(reason);
  };

  const onMessage = (from: string, raw: string) => {
    if (from !== channel) return;
    const space = raw.indexOf(' ');
    const epoch = Number(raw.slice(0, space));
    let message: Message;
    try {
      if (!(space > 0 && Number.isSafeInteger(epoch))) throw new Error('no epoch');
      message = JSON.parse(raw.slice(space + 1)) as Message;
      if (typeof message.from !== 'string' || !Array.isArray(message.keys)) throw new Error('wrong shape');
    } catch {
      onError(new Error(`Ignored a malformed invalidation message on ${channel}: ${raw.slice(0, 200)}`), 'message');
      return;
    }
    // Every message counts for the epoch, our own too: a gap is a message nobody applied.
    if (recovery === 'epoch' && lastEpoch !== undefined && epoch !== lastEpoch + 1) flush('gap');
    lastEpoch = epoch;
    if (message.from === instanceId) return; // we dropped those keys before publishing
    onInvalidate(message.keys.filter((k): k is string => typeof k === 'string'));
  };

  /** The epoch in Redis now; undefined when it could not be read. */
  const readEpoch = async (): Promise<number | undefined> => {
    try {
      return Number((await publisher.get(epochKey)) ?? 0);
    } catch (error) {
      onError(error as Error, 'epoch');
      return undefined;
    }
  };

  const subscribe = async () => {
    if (closed || connected) return;
    try {
      if (sharded) await subscriber.ssubscribe(channel);
      else await subscriber.subscribe(channel);
    } catch (error) {
      onError(error as Error, 'subscribe'); // the next 'ready' (after a reconnect) tries again
      return;
    }
    if (closed || connected) return;
    const first = !everConnected;
    everConnected = true;
    if (!first) reconnects++;
    if (recovery === 'epoch') {
      const epoch = await readEpoch();
      // Unknown (Redis failed again) or moved while we were away: something may be missed.
      if (!first && (epoch === undefined || epoch !== lastEpoch)) flush('reconnect');
      // A message may have arrived while the GET was on its way: keep the newest number.
      // (After a Redis restart the epoch starts again from 0; the first message then looks
      // like a gap and flushes once more: harmless.)
      if (epoch !== undefined) lastEpoch = Math.max(epoch, lastEpoch ?? epoch);
    } else if (!first) {
      flush('reconnect');
    }
    setConnected(true);
    resolveReady();
  };
  const onConnectionLost = () => setConnected(false);

  subscriber.on(messageEvent, onMessage);
  subscriber.on('ready', subscribe);
  subscriber.on('close', onConnectionLost);
  subscriber.on('end', onConnectionLost);
  if (subscriber.status === 'ready') void subscribe();

  return {
    instanceId,
    channel,
    epochKey,
    ready,
    get connected() {
      return connected;
    },
    get reconnects() {
      return reconnects;
    },
    async publish(keys) {
      if (keys.length === 0) return true;
      const message = JSON.stringify({ from: instanceId, keys: [...keys] } satisfies Message);
      try {
        await publisher.eval(PUBLISH_WITH_EPOCH, 1, epochKey, sharded ? 'SPUBLISH' : 'PUBLISH', channel, message);
        return true;
      } catch (error) {
        onError(error as Error, 'publish');
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      subscriber.off(messageEvent, onMessage);
      subscriber.off('ready', subscribe);
      subscriber.off('close', onConnectionLost);
      subscriber.off('end', onConnectionLost);
      if (subscriber.status !== 'ready') return;
      if (sharded) await subscriber.sunsubscribe(channel).catch(() => {});
      else await subscriber.unsubscribe(channel).catch(() => {});
    },
  };
}
