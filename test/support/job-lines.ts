// Captures the job lines (SPEC 5.3) the worker writes to this process's standard output.
import { eventually } from './wait';

export const JOB_LINE = /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] /;

export class JobLines {
  readonly lines: string[] = [];
  private readonly spy: jest.SpyInstance;

  constructor() {
    const write = process.stdout.write.bind(process.stdout);
    this.spy = jest.spyOn(process.stdout, 'write').mockImplementation(((
      chunk: string | Uint8Array,
      ...rest: never[]
    ) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      for (const line of text.split('\n')) if (JOB_LINE.test(line)) this.lines.push(line);
      return write(chunk, ...rest);
    }) as typeof process.stdout.write);
  }

  /** Job lines captured so far that end with `message` (escaped as printed). */
  printed(message: string): string[] {
    return this.lines.filter((line) => line.endsWith(`] ${message}`));
  }

  /** Resolves with the first `count` lines that match, or rejects after `timeoutMs`. */
  waitFor(predicate: (line: string) => boolean, count = 1, timeoutMs = 10_000): Promise<string[]> {
    return eventually(
      () => {
        const found = this.lines.filter(predicate);
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
      () => `${count} job line(s), saw: ${JSON.stringify(this.lines)}`,
      20,
    );
  }

  restore(): void {
    this.spy.mockRestore();
  }
}
