import { ConditionalModule } from '@nestjs/config';
import type { AppRole } from '../config/env.validation';
import { JobApiModule } from './job-api.module';
import { JobWorkerModule } from './job-worker.module';

// ConditionalModule reads the environment after ConfigModule has validated it (and filled in defaults).
const role = (env: NodeJS.ProcessEnv): AppRole => (env.APP_ROLE as AppRole | undefined) ?? 'all';

/** The job API, unless this process is a worker only (APP_ROLE=worker: its job routes answer 404). */
export const jobApiForRole = () => ConditionalModule.registerWhen(JobApiModule, (env) => role(env) !== 'worker');

/** The worker, unless this process serves the API only (APP_ROLE=api). */
export const jobWorkerForRole = () => ConditionalModule.registerWhen(JobWorkerModule, (env) => role(env) !== 'api');
