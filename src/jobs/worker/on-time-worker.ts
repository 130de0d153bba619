// A BullMQ Worker that wakes itself up the moment its next delayed job falls due.
import { Worker } from 'bullmq';
import type { RedisClient } from '../../redis/redis-connection.factory';

/** The milliseconds that pass between reading the clock here and in BullMQ's own computation of the wait. */
const WAIT_SLACK_MS = 50;

/**
 * An idle BullMQ worker waits for its next delayed job with BZPOPMIN on the queue's marker key and a timeout of
 * exactly the time left. Redis, though, only checks blocked clients' timeouts on its serverCron tick (`hz` 10 by
 * default: every 100 ms), so a job due while the worker waited was picked up up to 100 ms late (bench/README.md,
 * change 7).
 *
 * This worker also sets a timer of its own for that moment and then adds the marker that `Queue#add` adds for
 * a waiting job (`ZADD <marker> 0 "0"`). That releases the BZPOPMIN at once, and BullMQ goes on as usual:
 * it promotes the due delayed jobs and takes one. A marker that arrives while the worker is busy costs one
 * fetch that finds nothing new; one that cannot be written (Redis away) leaves Redis's own timeout in charge.
 */
export class OnTimeWorker<T> extends Worker<T> {
  private wakeTimer?: NodeJS.Timeout;
  private lastFetchAt = Date.now();

  /**
   * When the fetch loop last showed it is alive (epoch ms): it began a wait for jobs, or asked Redis for one. An idle
   * worker does so at least every 11 s (BullMQ waits at most 10 s, and its watchdog 1 s more); a worker whose every
   * slot is busy does not fetch until one frees.
   */
  get lastFetchActivityAt(): number {
    return this.lastFetchAt;
  }

  protected override moveToActive(
    ...args: Parameters<Worker<T>['moveToActive']>
  ): ReturnType<Worker<T>['moveToActive']> {
    this.lastFetchAt = Date.now();
    return super.moveToActive(...args);
  }

  // Called by BullMQ right before each blocking wait, with the due time of the next delayed job (or 0).
  protected override getBlockTimeout(blockUntil: number): number {
    this.lastFetchAt = Date.now();
    const dueIn = blockUntil - Date.now();
    const timeout = super.getBlockTimeout(blockUntil);
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    // Only for a job due within this wait (BullMQ waits at most 10 s, then asks again): a job due in days gets
    // its timer on a later wait, and no timer ever exceeds setTimeout's range.
    if (blockUntil > 0 && timeout > 0 && dueIn <= timeout * 1_000 + WAIT_SLACK_MS) {
      const marker = this.keys.marker;
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = undefined;
        // On the worker's non-blocking connection (an ioredis client, which BullMQ types narrowly).
        if (!this.closing)
          this.client.then((client) => (client as unknown as RedisClient).zadd(marker, 0, '0')).catch(() => undefined);
      }, dueIn);
      this.wakeTimer.unref();
    }
    return timeout;
  }

  override close(force?: boolean): Promise<void> {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    return super.close(force);
  }
}
