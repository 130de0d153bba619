// Makes a job's first attempt fail, through the app's own processor, so that BullMQ retries it after its backoff.
import type { JobProcessor } from '../../src/jobs/worker/job.processor';

/**
 * The first attempt of the jobs with `message` runs as usual (for a schedule's occurrence, its start is recorded),
 * then fails; with `printed: false` its line is not printed (it prints under another message). Later attempts run
 * as usual. Answers the spy: restore it after the test.
 */
export function failFirstAttempt(
  processor: JobProcessor,
  message: string,
  { printed = true }: { printed?: boolean } = {},
): jest.SpyInstance {
  const process = processor.process.bind(processor);
  return jest.spyOn(processor, 'process').mockImplementation(async (job) => {
    if (job.data.message !== message || job.attemptsMade > 0) return process(job);
    const run = printed ? job : ({ ...job, data: { ...job.data, message: 'not this time' } } as typeof job);
    await process(run);
    throw new Error('first attempt fails');
  });
}
