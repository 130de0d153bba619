// A jest setup file: drops the job lines an in-process worker writes to standard output, so that they stay out
// of the test report. JobLines, installed later on top of this, still sees every one of them.
import { JOB_LINE } from './job-lines';

const write = process.stdout.write.bind(process.stdout) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;

process.stdout.write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  const kept = text
    .split('\n')
    .filter((line) => !JOB_LINE.test(line))
    .join('\n');
  if (kept === text) return write(chunk, ...rest);
  if (kept !== '') return write(kept, ...rest);
  const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
  if (callback) process.nextTick(callback);
  return true;
};
