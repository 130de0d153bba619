// The Prometheus registry of one application instance.
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Injection token of the registry. Each application gets its own rather than prom-client's global one:
 * the in-process tests boot several applications, which would otherwise register every metric twice.
 */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/** A registry with Node's process metrics (CPU, memory, event loop lag, GC, handles) when metrics are on. */
export function createMetricsRegistry(enabled: boolean): Registry {
  const registry = new Registry();
  // Off, nothing is scraped: skip the event-loop monitor and the GC observer the defaults start.
  if (enabled) collectDefaultMetrics({ register: registry });
  return registry;
}
