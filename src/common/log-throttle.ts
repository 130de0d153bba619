import { Logger } from '@nestjs/common';

/**
 * Logs a repeating error once per `intervalMs` (with the number suppressed meanwhile), so an outage that
 * makes every reconnect attempt fail gives a few lines, not a flood.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 30_000,
  ) {}

  error(message: string): void {
    const now = Date.now();
    const seen = this.last.get(message);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed += 1;
      return;
    }
    const repeats = seen?.suppressed ? ` (repeated ${seen.suppressed} times since)` : '';
    this.last.set(message, { at: now, suppressed: 0 });
    this.logger.error(`${message}${repeats}`);
  }

  /** Forget what was seen, so the next failure after a recovery is logged at once. */
  reset(): void {
    this.last.clear();
  }
}
