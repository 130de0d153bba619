// A private Redis Sentinel set for the specs: a primary, one replica of it and three sentinels (`redis-server
// --sentinel`, quorum 2) on loopback, quick to call a silent primary down (1 s) and to fail over.
import { RedisServer } from './redis-server';
import { eventually } from './wait';

/** The name the sentinels monitor the primary under: REDIS_SENTINEL_MASTER. */
export const SENTINEL_MASTER = 'dm-primary';

/** How long a primary may be silent before a sentinel calls it down (`down-after-milliseconds`). */
const DOWN_AFTER_MS = 1_000;

/** Passwords of the data nodes (`requirepass`, `masterauth`) and of the sentinels, when the set has them. */
export interface SentinelSetOptions {
  password?: string;
  sentinelPassword?: string;
}

const sentinelConfig = (primaryPort: number, { password, sentinelPassword }: SentinelSetOptions): string =>
  [
    `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primaryPort} 2`,
    `sentinel down-after-milliseconds ${SENTINEL_MASTER} ${DOWN_AFTER_MS}`,
    `sentinel failover-timeout ${SENTINEL_MASTER} 10000`,
    `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
    ...(password !== undefined ? [`sentinel auth-pass ${SENTINEL_MASTER} ${password}`] : []),
    // Sentinels with a password need it to talk to each other too.
    ...(sentinelPassword !== undefined ? [`sentinel sentinel-pass ${sentinelPassword}`] : []),
    '',
  ].join('\n');

const infoField = (info: string, field: string): string | undefined =>
  new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();

export class RedisSentinelSet {
  private constructor(
    /** The data nodes, the first primary first; which one is primary now: primary(). */
    readonly nodes: RedisServer[],
    readonly sentinels: RedisServer[],
  ) {}

  /** "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3", the form of REDIS_SENTINELS. */
  get sentinelList(): string {
    return this.sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(',');
  }

  static async start(options: SentinelSetOptions = {}): Promise<RedisSentinelSet> {
    const { password, sentinelPassword } = options;
    const masterauth = password !== undefined ? ['--masterauth', password] : [];
    // Every data node may become a primary or a replica: each has the password and the one to reach a primary.
    const primary = await RedisServer.start({ password, args: masterauth });
    const nodes = [primary];
    const sentinels: RedisServer[] = [];
    const set = new RedisSentinelSet(nodes, sentinels);
    try {
      nodes.push(
        await RedisServer.start({ password, args: [...masterauth, '--replicaof', '127.0.0.1', String(primary.port)] }),
      );
      await set.untilReplicated(nodes[1]);
      for (let i = 0; i < 3; i++) {
        sentinels.push(
          await RedisServer.start({
            password: sentinelPassword,
            config: sentinelConfig(primary.port, options),
            args: ['--sentinel'],
          }),
        );
      }
      // A failover needs the quorum to know the replica and each other (they meet on the primary's hello channel).
      let last = '';
      await eventually(
        async () => {
          const views = await Promise.all(
            sentinels.map(async (sentinel) => {
              const master = (await sentinel.command('SENTINEL', 'MASTER', SENTINEL_MASTER)) as string[];
              const field = (name: string) => master[master.indexOf(name) + 1];
              return { replicas: Number(field('num-slaves')), others: Number(field('num-other-sentinels')) };
            }),
          );
          last = JSON.stringify(views);
          return views.every(({ replicas, others }) => replicas === 1 && others === 2) ? true : undefined;
        },
        20_000,
        () => `the sentinels to know the replica and each other: ${last}`,
        100,
      );
    } catch (error) {
      await set.close();
      throw error;
    }
    return set;
  }

  /** The data node the sentinels name as primary now. */
  async primary(): Promise<RedisServer> {
    const [, port] = (await this.sentinels[0].command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)) as [
      string,
      string,
    ];
    const node = this.nodes.find((candidate) => candidate.port === Number(port));
    if (node === undefined) throw new Error(`the sentinels name an unknown primary on port ${port}`);
    return node;
  }

  /** Resolves once every sentinel names a primary other than `old` and that node answers as a primary. */
  async untilPromoted(old: RedisServer, timeoutMs = 30_000): Promise<RedisServer> {
    let last = '';
    return eventually(
      async () => {
        const named = await Promise.all(
          this.sentinels.map(
            async (sentinel) =>
              ((await sentinel.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)) as string[])[1],
          ),
        );
        last = named.join(',');
        if (named.some((port) => Number(port) === old.port || port !== named[0])) return undefined;
        const promoted = await this.primary();
        const role = infoField(String(await promoted.command('INFO', 'replication')), 'role');
        return role === 'master' ? promoted : undefined;
      },
      timeoutMs,
      () => `a replica to be promoted in place of ${old.port} (sentinels name ${last})`,
      100,
    );
  }

  /** Resolves once `node` is a replica whose link to its primary is up (its initial copy done). */
  async untilReplicated(node: RedisServer, timeoutMs = 20_000): Promise<void> {
    let last = '';
    await eventually(
      async () => {
        last = String(await node.command('INFO', 'replication'));
        return infoField(last, 'role') === 'slave' && infoField(last, 'master_link_status') === 'up' ? true : undefined;
      },
      timeoutMs,
      () => `${node.port} to replicate: ${last.replace(/\r?\n/g, ' ')}`,
      100,
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.nodes].map((server) => server.close()));
  }
}
