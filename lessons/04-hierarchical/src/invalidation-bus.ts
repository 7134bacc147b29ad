import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';

/**
 * The invalidation bus: how one instance tells every other instance "drop these keys from
 * your L1". Each instance keeps its own in-memory L1, which nobody else can reach; when a
 * write on instance A makes a key stale, A deletes it from Redis (L2) and from its own L1,
 * then publishes the key here, and every other instance deletes it from its L1.
 *
 * Redis pub/sub is fire-and-forget: a message reaches the instances subscribed at that
 * moment, at most once. An instance that is disconnected when the message is sent never
 * sees it. We accept that limit here and bound its cost two ways: L1 entries live only a
 * few seconds (their TTL is the worst-case staleness), and `onResubscribe` tells the owner
 * that messages may have been lost, so it can drop its whole L1. Lesson 10 numbers every
 * invalidation from a counter in Redis, so an instance drops its L1 only when it really
 * missed a message (a gap in the numbers, or a reconnect).
 *
 * A message is JSON `{"from":"<instance id>","keys":["…"]}`. The sender's id travels with
 * it because Redis delivers a message to its sender too, when the sender is subscribed:
 * an instance ignores its own messages (it has already dropped those keys itself).
 */
export interface InvalidationBusOptions {
  /** Sends messages (PUBLISH). Any client: the bus never closes it. */
  publisher: Redis;
  /**
   * Receives messages. **Its own connection**, not the publisher's: a Redis connection
   * that has subscribed can run nothing but (un)subscribe commands. One bus per
   * subscriber: `close()` unsubscribes the channel for the whole connection. The bus never
   * disconnects it; the caller does.
   */
  subscriber: Redis;
  /**
   * The pub/sub channel. Channels are not keys: a key prefix does not namespace them, so
   * put the prefix in the name yourself (two apps, or two test files, on one Redis must
   * not hear each other's invalidations).
   */
  channel: string;
  /** This instance's id, sent with every message. Default: host, pid and a random suffix. */
  instanceId?: string;
  /** Called with the keys another instance invalidated. Must not throw. */
  onInvalidate: (keys: string[]) => void;
  /**
   * Called when the subscription is back after the connection was lost: anything published
   * meanwhile was lost, so the owner should treat all of L1 as suspect (drop it).
   */
  onResubscribe?: () => void;
  /** Called when publishing fails, subscribing fails or a malformed message arrives. Default: ignore. */
  onError?: (error: Error, operation: 'publish' | 'subscribe' | 'message') => void;
}

export interface InvalidationBus {
  readonly instanceId: string;
  readonly channel: string;
  /**
   * Resolves once the subscription is confirmed by Redis; from then on, messages from
   * other instances arrive. Never rejects: while Redis is unreachable it stays pending and
   * the bus keeps trying on every reconnect, so await it with a timeout if Redis may be down.
   */
  readonly ready: Promise<void>;
  /**
   * Tell the other instances to drop `keys` from their L1. Resolves true when Redis took
   * the message, false when it could not be sent (Redis down): never throws, because a
   * cache must not turn a successful write into an error. Delivery is at most once.
   */
  publish(keys: readonly string[]): Promise<boolean>;
  /** Stop listening: unsubscribe and remove the listeners. Does not disconnect the clients. */
  close(): Promise<void>;
}

interface Message {
  from: string;
  keys: string[];
}

export function defaultInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export function createInvalidationBus(options: InvalidationBusOptions): InvalidationBus {
  const { publisher, subscriber, channel, onInvalidate } = options;
  if (publisher === subscriber) {
    throw new TypeError(
      'createInvalidationBus: `publisher` and `subscriber` must be two different Redis connections (a subscribed connection cannot PUBLISH). Create a second client for `subscriber`.',
    );
  }
  if (typeof channel !== 'string' || channel.length === 0) {
    throw new TypeError(
      'createInvalidationBus: `channel` must be a non-empty string, one that includes the key prefix, e.g. "myapp:l1-invalidation".',
    );
  }
  const instanceId = options.instanceId ?? defaultInstanceId();
  const onError = options.onError ?? (() => {});

  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  let subscribed = false; // the subscription is confirmed and the connection has not dropped since
  let everSubscribed = false;
  let closed = false;

  const onMessage = (from: string, raw: string) => {
    if (from !== channel) return; // the subscriber may carry other channels
    let message: Message;
    try {
      message = JSON.parse(raw) as Message;
      if (typeof message.from !== 'string' || !Array.isArray(message.keys)) throw new Error('wrong shape');
    } catch {
      onError(new Error(`Ignored a malformed invalidation message on ${channel}: ${raw.slice(0, 200)}`), 'message');
      return;
    }
    if (message.from === instanceId) return; // our own: we dropped those keys before publishing
    onInvalidate(message.keys.filter((k): k is string => typeof k === 'string'));
  };

  const subscribe = async () => {
    if (closed || subscribed) return;
    try {
      await subscriber.subscribe(channel);
    } catch (error) {
      // Redis is not reachable yet: the next 'ready' event (after a reconnect) tries again.
      onError(error as Error, 'subscribe');
      return;
    }
    if (closed || subscribed) return;
    subscribed = true;
    if (everSubscribed) options.onResubscribe?.();
    everSubscribed = true;
    resolveReady();
  };
  const onConnectionLost = () => {
    subscribed = false;
  };

  subscriber.on('message', onMessage);
  subscriber.on('ready', subscribe);
  subscriber.on('close', onConnectionLost);
  if (subscriber.status === 'ready') void subscribe();

  return {
    instanceId,
    channel,
    ready,
    async publish(keys) {
      if (keys.length === 0) return true;
      const message: Message = { from: instanceId, keys: [...keys] };
      try {
        await publisher.publish(channel, JSON.stringify(message));
        return true;
      } catch (error) {
        onError(error as Error, 'publish');
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      subscriber.off('message', onMessage);
      subscriber.off('ready', subscribe);
      subscriber.off('close', onConnectionLost);
      // Only when connected: a client with an offline queue would otherwise wait for Redis forever.
      if (subscriber.status === 'ready') await subscriber.unsubscribe(channel).catch(() => {});
    },
  };
}
