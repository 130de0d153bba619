import { Injectable, OnModuleDestroy } from '@nestjs/common';

/** Flips to "shutting down" at the first shutdown hook, so readiness answers 503 while requests drain. */
@Injectable()
export class ReadinessState implements OnModuleDestroy {
  private stopping = false;

  get shuttingDown(): boolean {
    return this.stopping;
  }

  onModuleDestroy(): void {
    this.stopping = true;
  }
}
