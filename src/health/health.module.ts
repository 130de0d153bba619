import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { ReadinessChecks } from './readiness.checks';
import { ReadinessState } from './readiness.state';

@Module({
  // Our Redis logger already reports outages once; terminus would log every failed probe.
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [ReadinessState, ReadinessChecks],
})
export class HealthModule {}
