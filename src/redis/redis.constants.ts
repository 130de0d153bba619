/** Connection used to store jobs and answer health checks: fails fast while Redis is away. */
export const REDIS_PRODUCER = Symbol('REDIS_PRODUCER');
/** Connection the worker runs on: waits patiently for Redis to come back. */
export const REDIS_WORKER = Symbol('REDIS_WORKER');
